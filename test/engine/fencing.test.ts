import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { spawnFixture, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { postgresBackend, postgresUrl, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { LoopbackServer } from "../support/loopback-server.ts";
import { waitFor } from "../support/wait.ts";

const leaseMs = 1000;

/**
 * An invoicing API with check-then-act semantics: GET /invoices?number=N finds an invoice, POST creates
 * one (a second POST for the same number makes a second invoice, as QuickBooks would). The test decides
 * when a worker's first lookup is answered.
 */
class InvoiceApi extends LoopbackServer {
  readonly created: { number: string; worker: string }[] = [];
  /** Every request as it arrived: when, and its method. */
  readonly arrivals: { at: number; method: string }[] = [];
  /** Called with the worker's pid before the first lookup is answered; the answer waits for it. */
  holdFirstLookup: ((worker: number) => Promise<void>) | undefined;
  /** The first POST is applied only once `applyHeldPost` is called, as by a server slow to answer it. */
  holdFirstPost = false;
  postHeld: Promise<void> | undefined;
  applyHeldPost: () => void = () => {};
  #lookups = 0;

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.arrivals.push({ at: Date.now(), method: request.method ?? "" });
    const url = new URL(request.url ?? "/", "http://api");
    const worker = String(request.headers["x-worker"]);
    let body = "";
    for await (const chunk of request) body += chunk;
    if (request.method === "POST" && this.holdFirstPost && !this.postHeld) {
      this.postHeld = new Promise((resolve) => {
        this.applyHeldPost = resolve;
      });
      await this.postHeld;
    }
    if (request.method === "GET") {
      this.#lookups += 1;
      // The answer is what the system holds now; a held lookup delivers it late, as a stalled worker reads it late.
      const index = this.created.findIndex((i) => i.number === url.searchParams.get("number"));
      if (this.#lookups === 1 && this.holdFirstLookup) await this.holdFirstLookup(Number(worker));
      return send(response, { id: index === -1 ? null : index + 1 });
    }
    this.created.push({ number: (JSON.parse(body) as { number: string }).number, worker });
    return send(response, { id: this.created.length });
  }
}

function send(response: ServerResponse, body: unknown): void {
  // A request its sender aborted is still applied (above), but there is no one left to answer.
  if (response.destroyed) return;
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
}

describe("a worker whose lease lapsed does not act (PostgreSQL)", () => {
  const t = useTestStorage(postgresBackend);
  let api: InvoiceApi;
  let workers: WorkerProcess[];
  let env: Record<string, string>;

  beforeEach(async () => {
    api = new InvoiceApi();
    await api.start();
    await t.storage.migrate();
    workers = [];
    env = {
      ...t.db.env,
      API_ORIGIN: api.origin,
      LEASE_MS: String(leaseMs),
      TENON_MASTER_KEY: randomBytes(32).toString("base64"),
    };
  });
  afterEach(async () => {
    for (const w of workers) {
      w.child.kill("SIGCONT");
      await w.kill9();
    }
    await api.close();
  });

  function startWorker(name: string, more: Record<string, string> = {}): WorkerProcess {
    const worker = spawnFixture("fencing-worker-process.ts", { ...env, ...more, WORKER_NAME: name });
    workers.push(worker);
    return worker;
  }

  async function sendOrder(number: string): Promise<string> {
    const producer = testEngine({
      storage: t.storage,
      worker: false,
      integrations: [defineIntegration({ id: "invoice-order", trigger: { event: "order" }, run: () => {} })],
    });
    const { runIds } = await producer.send({ type: "order", payload: { number } });
    return runIds[0] as string;
  }

  /**
   * Worker A has looked the invoice up and stalls inside the step (how is up to `stall`); B starts, and the
   * run is finished by whoever holds it once A's lease has lapsed. Then A gets the lookup's answer.
   */
  async function takeOverFromStalledWorker(stall: (a: WorkerProcess) => Promise<void>, resume: () => void) {
    const a = startWorker("worker-a");
    await a.waitForLine("READY");
    let stalled: () => void = () => {};
    const lookedUp = new Promise<void>((resolve) => {
      stalled = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    api.holdFirstLookup = async () => {
      await stall(a);
      stalled();
      await released;
    };
    const runId = await sendOrder("S-1634");
    await lookedUp;

    // A's lease lapses; the run is taken over and the invoice created while A is stuck in the same step.
    const b = startWorker("worker-b");
    await b.waitForLine("READY");
    await waitForRunStatus(t.storage, runId, "succeeded", 30_000);
    expect(api.created).toHaveLength(1);
    // A comes back to life in the middle of the step, with the lookup's answer "no invoice yet".
    release();
    resume();
    const fencedLine = a.waitForText("fenced itself");
    await Promise.race([fencedLine, waitFor("A to create a second invoice", () => api.created.length > 1, 30_000)]);
    // Give A every chance to (wrongly) act: its next heartbeats and claims come and go.
    await new Promise((resolve) => setTimeout(resolve, 3 * leaseMs));
    expect(api.created.map((i) => i.number)).toEqual(["S-1634"]);
    expect(JSON.parse(await fencedLine)).toMatchObject({ runId, integrationId: "invoice-order" });
    return runId;
  }

  it("a worker suspended (SIGSTOP) inside a step past its lease, then resumed, does not repeat the step: one invoice", async () => {
    let stopped: WorkerProcess | undefined;
    const runId = await takeOverFromStalledWorker(
      async (a) => {
        stopped = a;
        a.child.kill("SIGSTOP");
      },
      () => stopped?.child.kill("SIGCONT"),
    );
    expect(api.created).toEqual([{ number: "S-1634", worker: String(workers[1]?.child.pid) }]);
    expect((await t.storage.getRun(runId))?.status).toBe("succeeded");
  });

  /** Heartbeats of worker `name` fail in the database, as under the deadlocks and outages seen in production. */
  async function refuseHeartbeatsOfA(): Promise<pg.Client> {
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    const schema = env.TENON_POSTGRES_SCHEMA as string;
    await admin.query(`
      CREATE FUNCTION ${schema}.refuse_heartbeats_of_a() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF current_setting('application_name') = 'worker-a' AND OLD.status = 'running' AND NEW.status = 'running'
          AND NEW.lease_until IS DISTINCT FROM OLD.lease_until THEN
          RAISE EXCEPTION 'injected failure: heartbeat refused';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_heartbeats_of_a BEFORE UPDATE ON ${schema}.runs
        FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_heartbeats_of_a();`);
    return admin;
  }

  it("a worker whose heartbeats fail while it waits inside a step stops before its lease lapses: one invoice", async () => {
    const admin = await refuseHeartbeatsOfA();
    try {
      const runId = await takeOverFromStalledWorker(
        async () => {},
        () => {},
      );
      // A fenced itself before its lease ran out and handed the run back, so either worker may have finished it.
      await waitFor("A's failed heartbeats in its log", () =>
        workers[0]?.waitForText("extending leases failed", 1000).then(() => true),
      );
      expect((await t.storage.getRun(runId))?.status).toBe("succeeded");
    } finally {
      await admin.end();
    }
  });

  it("a run handed back by a worker that fenced itself waits out the lease: a POST it aborted is not repeated meanwhile", async () => {
    // A fences itself a margin (lease/4) before its lease ends and aborts its POST, which the server still applies
    // a little later. No other attempt may start before the lease ends: that margin is the server's.
    const admin = await refuseHeartbeatsOfA();
    const lease = { LEASE_MS: "4000" };
    try {
      api.holdFirstPost = true;
      const a = startWorker("worker-a", lease);
      await a.waitForLine("READY");
      const b = startWorker("worker-b", lease);
      await b.waitForLine("READY");
      // B must not take the run first: it waits until A's POST is at the server.
      b.child.kill("SIGSTOP");
      const runId = await sendOrder("S-1635");
      await waitFor("A's POST at the server", () => api.postHeld !== undefined, 30_000);
      const heldAt = api.arrivals.length;
      const schema = env.TENON_POSTGRES_SCHEMA as string;
      const row = await admin.query(`SELECT lease_until FROM ${schema}.runs WHERE id = $1`, [runId]);
      const leaseUntil = Number(row.rows[0]?.lease_until);
      b.child.kill("SIGCONT");
      // A fences itself (and aborts the POST); the server applies it right after, well within the margin.
      await a.waitForText("fenced itself");
      api.applyHeldPost();
      await waitForRunStatus(t.storage, runId, "succeeded", 30_000);

      const early = api.arrivals.slice(heldAt).filter((r) => r.at < leaseUntil);
      expect(early.map((r) => `${r.method} ${r.at - leaseUntil} ms before the lease ended`)).toEqual([]);
      expect(api.created.map((i) => i.number)).toEqual(["S-1635"]);
    } finally {
      await admin.end();
    }
  });
});
