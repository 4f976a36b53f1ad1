import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnFixture, type WorkerProcess } from "../../fixtures/spawn-worker.ts";
import { backends, useTestStorage } from "../../support/backends.ts";
import { LoopbackServer } from "../../support/loopback-server.ts";
import { waitFor } from "../../support/wait.ts";

/** Answers every request with a little JSON, and remembers what it was asked. */
class OrdersApi extends LoopbackServer {
  readonly requests: string[] = [];

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for await (const _ of request);
    this.requests.push(`${request.method} ${request.url}`);
    response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  }
}

/** The run's audit rows as "step METHOD path status", oldest first. */
async function exchangesOf(storage: ReturnType<typeof useTestStorage>["storage"], runId: string): Promise<string[]> {
  const rows = await storage.connections.listAudit({ runId });
  return rows.reverse().map((row) => `${row.stepName} ${row.method} ${new URL(row.url).pathname} ${row.status}`);
}

describe.each(backends)("an exchange's audit row is as durable as its step, on '$name'", (backend) => {
  const t = useTestStorage(backend);
  let api: OrdersApi;
  let workers: WorkerProcess[];

  beforeEach(async () => {
    await t.storage.migrate();
    api = new OrdersApi();
    await api.start();
    workers = [];
  });
  // Registered after useTestStorage's hooks, so it runs first: no worker outlives the test or its database.
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.kill9()));
    await api.close();
  });

  function spawn(extra: Record<string, string>): WorkerProcess {
    const worker = spawnFixture("audited-worker-process.ts", {
      ...t.db.env,
      API_ORIGIN: api.origin,
      TENON_MASTER_KEY: randomBytes(32).toString("base64"),
      LEASE_MS: "1000",
      ...extra,
    });
    workers.push(worker);
    return worker;
  }

  it("keeps a committed step's exchanges through a kill -9, and records the interrupted step's when its retry commits", async () => {
    // The worker's audit buffer is flushed only every 10 minutes: what survives was written with a run transition.
    const first = spawn({ SEND: "1", HANG_AFTER: "1" });
    const runId = (await first.waitForLine("SENT ")).slice("SENT ".length);
    // Step "after" starts only once step "call"'s record is committed; it has made its request when it says so.
    await first.waitForLine(`IN_FLIGHT ${runId}`);
    await first.kill9();

    expect(api.requests).toEqual(["POST /orders", "GET /orders/1", "POST /notes"]);
    // The interrupted attempt's exchange was held for a transition that never came: lost with the attempt.
    expect(await exchangesOf(t.storage, runId)).toEqual(["call POST /orders 200", "call GET /orders/1 200"]);

    // Another worker resumes the run at "after" (SQLite: the file's previous worker is gone; PostgreSQL: its lease expires).
    const second = spawn({});
    await waitFor("the resumed run to succeed", async () => (await t.storage.getRun(runId))?.status === "succeeded");
    await second.kill9();

    expect(api.requests).toEqual(["POST /orders", "GET /orders/1", "POST /notes", "POST /notes"]);
    expect(await exchangesOf(t.storage, runId)).toEqual([
      "call POST /orders 200",
      "call GET /orders/1 200",
      "after POST /notes 200",
    ]);
  }, 60_000);
});
