import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NewEvent } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function order(n: number, email: string): NewEvent {
  return {
    id: `event-${n}`,
    source: "store",
    type: "orders/create",
    dedupKey: `order-${n}`,
    payloadJson: JSON.stringify({ order_number: n, email }),
    receivedAt: t0 + n,
    runs: [
      {
        id: `run-${n}`,
        integrationId: "order-to-cash",
        concurrencyKey: null,
        concurrencyLimit: null,
        tags: [
          { kind: "order", value: String(n) },
          { kind: "email", value: email },
        ],
      },
    ],
  };
}

describe.each(backends)("tenon search on $name", (backend) => {
  const t = useTestStorage(backend);
  let cwd: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-search-cli-"));
    await t.storage.migrate();
    await t.storage.acceptEvents([order(1001, "ada@example.com"), order(1002, "ada@example.com")]);
    await t.storage.connections.appendAudit([
      {
        id: "exchange-1",
        connectionId: "accounting",
        runId: "run-1001",
        stepName: "create-invoice",
        method: "POST",
        url: "http://127.0.0.1:4010/accounting/v3/company/1/invoice",
        status: 200,
        error: null,
        durationMs: 12,
        requestHeaders: "{}",
        requestBody: "{}",
        responseHeaders: "{}",
        responseBody: "{}",
        at: t0 + 5000,
      },
    ]);
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  const tenon = (args: string[]) => runTenonCli(cwd, ["search", ...args], t.db.env);

  it("prints the runs, events and outbound requests about an order, readably", async () => {
    const result = await tenon(["order:1001"]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("order:1001: 1 run, 1 event, 1 outbound request");
    expect(result.stdout).toMatch(
      /RUNS\nID +INTEGRATION +STATUS +CREATED +TAGS\nrun-1001 +order-to-cash +queued .* email:ada@example.com order:1001\n/,
    );
    expect(result.stdout).toMatch(/EVENTS\n.*\nevent-1001 +store +orders\/create +accepted/);
    expect(result.stdout).toMatch(
      /OUTBOUND REQUESTS\n.*\n.* run-1001 +create-invoice +accounting +POST http:\/\/127\.0\.0\.1:4010\/accounting\/v3\/company\/1\/invoice +200 in 12 ms/,
    );
  });

  it("--json prints what GET /api/search answers; terms must all match, and the e-mail's case does not matter", async () => {
    const result = await tenon(["email:ADA@example.com", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.runs.map((run: { id: string }) => run.id)).toEqual(["run-1002", "run-1001"]);
    expect(json.events.map((event: { id: string }) => event.id)).toEqual(["event-1002", "event-1001"]);
    expect(json.exchanges.map((exchange: { id: string }) => exchange.id)).toEqual(["exchange-1"]);
    expect(json.nextCursor).toBeNull();

    const both = JSON.parse((await tenon(["email:ada@example.com", "order:1002", "--json"])).stdout);
    expect(both.runs.map((run: { id: string }) => run.id)).toEqual(["run-1002"]);
  });

  it("says how to page, and when nothing matches, why a search may find nothing", async () => {
    const first = await tenon(["email:ada@example.com", "--limit", "1"]);
    const cursor = /--cursor (\S+)/.exec(first.stdout)?.[1];
    expect(first.stdout).toContain("older runs: tenon search email:ada@example.com --cursor ");
    const second = await tenon(["email:ada@example.com", "--limit", "1", "--cursor", cursor as string]);
    expect(second.stdout).toContain("run-1001");
    expect(second.stdout).not.toContain("run-1002");

    // One argument is one term, spaces and all (the shell took the quotes off customer:"Ada Lovelace").
    const spaced = await tenon(["customer:Ada Lovelace", "--json"]);
    expect(spaced.code, spaced.stderr).toBe(0);
    expect(JSON.parse(spaced.stdout).terms).toEqual([{ kind: "customer", value: "Ada Lovelace" }]);

    const none = await tenon(["order:9999"]);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain("no runs are tagged order:9999");
  });

  it("a term that is not kind:value fails with what to type", async () => {
    const result = await tenon(["1001"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'tenon: "1001" is not kind:value; search for an entity as kind:value (e.g. order:1001',
    );
  });
});
