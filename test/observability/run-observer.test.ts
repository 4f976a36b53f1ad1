import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.ts";
import { RunObserver } from "../../src/observability/run-metrics.ts";
import type { ClaimedRun, RunTransition } from "../../src/storage/contract.ts";
import { nonZeroSeries, parsePrometheusText } from "../support/prometheus-text.ts";

/** A run as a claim returns it: one lease token serves every run of a claim batch. */
function claimed(id: string, leaseToken: string): ClaimedRun {
  return {
    id,
    integrationId: "orders",
    eventId: `event-${id}`,
    leaseToken,
    failures: 0,
    crashes: 0,
    lastError: null,
    createdAt: 1_000,
    availableAt: 1_000,
    firstClaim: true,
    event: {
      id: `event-${id}`,
      source: "api",
      type: "order.created",
      payloadJson: "{}",
      receivedAt: 1_000,
      traceContext: null,
    },
    journal: [],
  };
}

function completion(run: ClaimedRun): RunTransition {
  return { kind: "completeRun", runId: run.id, leaseToken: run.leaseToken, outputJson: null, now: 3_000 };
}

describe("RunObserver", () => {
  it("counts each run of a claim batch, whichever of them ends first", async () => {
    const metrics = createMetrics();
    const observer = new RunObserver(metrics);
    const a = claimed("run-a", "batch-1");
    const b = claimed("run-b", "batch-1");
    observer.begin(a);
    observer.begin(b);
    observer.committed([completion(b)], [true]);
    observer.end(b);
    observer.committed([completion(a)], [true]);
    observer.end(a);

    const families = parsePrometheusText(await metrics.registry.metrics());
    expect(nonZeroSeries(families, "tenon_runs_ended_total")).toEqual({ "integration=orders,status=succeeded": 2 });
  });

  it("a stale execution neither counts nor forgets the run's current one", async () => {
    const metrics = createMetrics();
    const observer = new RunObserver(metrics);
    const stale = claimed("run-a", "batch-1");
    const current = { ...claimed("run-a", "batch-2"), firstClaim: false };
    observer.begin(stale);
    observer.begin(current);
    // The stale execution's transition did not apply (its lease was lost), and it ends after the new one began.
    observer.committed([completion(stale)], [false]);
    observer.end(stale);
    observer.committed([completion(current)], [true]);
    observer.end(current);

    const families = parsePrometheusText(await metrics.registry.metrics());
    expect(nonZeroSeries(families, "tenon_runs_ended_total")).toEqual({ "integration=orders,status=succeeded": 1 });
  });
});
