import { describe, expect, it } from "vitest";
import { postgresBackend } from "../support/backends.ts";
import { runOrderToCashScenario } from "./order-to-cash-scenario.ts";

// The SQLite and PostgreSQL runs are separate files so that vitest runs them side by side.
describe("order-to-cash end to end on PostgreSQL", () => {
  it("1,000 orders through 5xx, 429s, a CRM outage and a revoked token: one contact, invoice, decrement and email each", {
    timeout: 15 * 60_000,
  }, async () => {
    const report = await runOrderToCashScenario(postgresBackend, 1000);
    // The faults happened: otherwise the test would prove nothing.
    for (const [system, injected] of Object.entries(report.injectedFaults)) {
      expect(injected.error_after, system).toBeGreaterThan(0);
      expect(injected.rate_limited, system).toBeGreaterThan(0);
    }
    expect(report.injectedFaults.crm?.outage).toBeGreaterThan(0);
    expect(report.pausedRunsSeen).toBeGreaterThan(0);
    console.log(`order-to-cash on PostgreSQL: ${JSON.stringify(report)}`);
  });
});
