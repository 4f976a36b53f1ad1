import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const tokens = { operator: "operator-token-0123456789", viewer: "viewer-token-0123456789" };
const apiTokens = [
  { name: "olga", role: "operator" as const, token: tokens.operator },
  { name: "wallboard", role: "viewer" as const, token: tokens.viewer },
];
const revoked = 'step "create-invoice": connection "accounting" is auth_failed: the refresh token was revoked';
const outage = 'step "create-invoice": accounting answered 503';

/** An integration that listens to what the events of these tests carry, for the config "fixed" later. */
const invoiceSync = defineIntegration<{ order: number }>({
  id: "invoice-sync",
  trigger: { event: "order.paid" },
  async run() {},
});

interface Api {
  server: TenonServer;
  url: string;
  engine: Engine;
}

describe.each(backends)("bulk actions through the API on $name", (backend) => {
  const t = useTestStorage(backend);
  const apis: Api[] = [];
  const others: Storage[] = [];
  let api: Api;
  let t0: number;

  /** A Tenon process: an engine without a worker (replayed runs stay queued, to be counted) and its server. */
  async function startApi(storage: Storage, options: { integrations?: (typeof invoiceSync)[] } = {}): Promise<Api> {
    const engine = testEngine({ storage, integrations: options.integrations ?? [], worker: false });
    await engine.start();
    const server = createServer({ engine, logger: silentLogger, apiTokens });
    const started = { server, engine, url: await server.listen({ host: "127.0.0.1", port: 0 }) };
    apis.push(started);
    return started;
  }

  async function stopApi(stopped: Api): Promise<void> {
    await stopped.server.close();
    await stopped.engine.stop();
    apis.splice(apis.indexOf(stopped), 1);
  }

  async function call(method: string, path: string, token: string, body?: unknown, on: Api = api) {
    const response = await fetch(`${on.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
    return { status: response.status, headers: response.headers, json: (text ? JSON.parse(text) : undefined) as any };
  }

  async function waitForState(id: string, state: string, on: Api = api) {
    return waitFor(
      `bulk action ${id} to be ${state}`,
      async () => {
        const { json } = await call("GET", `/api/bulk-actions/${id}`, tokens.operator, undefined, on);
        return json.state === state ? json : null;
      },
      60_000,
      50,
    );
  }

  async function operatorLog(on: Api = api) {
    const { json } = await call("GET", "/api/operator-log?limit=100", tokens.operator, undefined, on);
    return json.entries as {
      actor: string;
      action: string;
      target: string | null;
      status: number | null;
      detail: string;
    }[];
  }

  async function replaysOf(storage: Storage, runId: string) {
    return (await storage.listRunHistory(runId)).filter((entry) => entry.kind === "replay");
  }

  beforeEach(async () => {
    t0 = Date.now() - 60_000;
    api = await startApi(t.storage);
  });
  afterEach(async () => {
    for (const running of [...apis]) await stopApi(running);
    for (const storage of others.splice(0)) await storage.close();
  });

  it("counts what a bulk replay selects with a dry run, changes nothing and writes no operator-log entry", async () => {
    await endRuns(t.storage, "billing", "dead", 4, t0, revoked);
    await endRuns(t.storage, "billing", "dead", 2, t0 + 1, outage);

    const all = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", dryRun: true });
    expect([all.status, all.json]).toEqual([200, { dryRun: true, selected: 6 }]);
    const revokedOnly = await call("POST", "/api/runs/replay", tokens.operator, {
      status: "dead",
      error: "AUTH_FAILED",
      dryRun: true,
    });
    expect(revokedOnly.json).toEqual({ dryRun: true, selected: 4 });
    // A wildcard in the text is matched as itself, not as "anything".
    expect(
      (await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", error: "auth%", dryRun: true })).json,
    ).toEqual({ dryRun: true, selected: 0 });

    expect((await t.storage.listRuns({ status: "dead" })).length).toBe(6);
    expect(await operatorLog()).toEqual([]);
    expect((await call("GET", "/api/bulk-actions", tokens.operator)).json.bulkActions).toEqual([]);
  });

  it("lists dead letters by error text, only with a dead or failed status", async () => {
    await endRuns(t.storage, "billing", "dead", 3, t0, revoked);
    await endRuns(t.storage, "billing", "dead", 2, t0 + 1, outage);
    const page = await call("GET", "/api/runs?status=dead&error=Auth_Failed", tokens.viewer);
    expect(page.status).toBe(200);
    expect(page.json.runs.map((run: { lastError: string }) => run.lastError)).toEqual([revoked, revoked, revoked]);

    const unbounded = await call("GET", "/api/runs?error=503", tokens.viewer);
    expect([unbounded.status, unbounded.json.error]).toEqual([400, "invalid_filter"]);
    expect(unbounded.json.message).toContain("status=dead or status=failed");
    expect((await call("GET", "/api/runs?status=succeeded&error=503", tokens.viewer)).status).toBe(400);
  });

  it("starts a job (202), reports its progress from storage, and logs who started it and how it ended", async () => {
    await endRuns(t.storage, "billing", "dead", 150, t0, revoked);
    await endRuns(t.storage, "billing", "dead", 5, t0 + 1, outage);
    await endRuns(t.storage, "crm-sync", "dead", 7, t0 + 2, revoked);

    const started = await call("POST", "/api/runs/replay", tokens.operator, {
      status: "dead",
      integration: "billing",
      error: "auth_failed",
    });
    expect(started.status).toBe(202);
    const id = started.json.id as string;
    expect(started.headers.get("location")).toBe(`/api/bulk-actions/${id}`);
    expect(started.json).toMatchObject({
      kind: "replay-runs",
      filter: { status: "dead", integration: "billing", error: "auth_failed" },
      actor: "olga",
      total: 150,
    });

    const finished = await waitForState(id, "finished");
    expect(finished).toMatchObject({ total: 150, done: 150, replayed: 150, skipped: 0, failed: 0, error: null });
    expect(Date.parse(finished.finishedAt)).toBeGreaterThanOrEqual(Date.parse(finished.startedAt));
    expect((await t.storage.countRunsByStatus({ integrationId: "billing" })).queued).toBe(150);
    expect((await t.storage.countRunsByStatus({ integrationId: "billing" })).dead).toBe(5);
    expect((await t.storage.countRunsByStatus({ integrationId: "crm-sync" })).dead).toBe(7);
    const [replayedRun] = await t.storage.listRuns({ integrationId: "billing", status: "queued", limit: 1 });
    expect((await replaysOf(t.storage, replayedRun?.id ?? "")).map((entry) => entry.actor)).toEqual(["api:olga"]);

    // Another process on the same database answers the same.
    const second = t.db.open();
    others.push(second);
    const elsewhere = await startApi(second);
    expect((await call("GET", `/api/bulk-actions/${id}`, tokens.operator, undefined, elsewhere)).json).toEqual(
      finished,
    );
    const listed = await call("GET", "/api/bulk-actions?kind=replay-runs", tokens.operator, undefined, elsewhere);
    expect(listed.json.bulkActions.map((job: { id: string }) => job.id)).toEqual([id]);

    const log = await operatorLog();
    expect(log.map((entry) => [entry.actor, entry.action, entry.target, entry.status])).toEqual([
      ["olga", "bulk action ended", id, null],
      ["olga", "POST /api/runs/replay", id, 202],
    ]);
    expect(log[1]?.detail).toBe(
      `started a bulk action (runs: status dead, integration billing, error contains "auth_failed"): 150 selected`,
    );
    expect(log[0]?.detail).toBe(
      'runs: status dead, integration billing, error contains "auth_failed": finished, replayed 150, skipped 0, failed 0 of 150',
    );

    const again = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", dryRun: true });
    expect(again.json.selected).toBe(12);
  });

  it("refuses a viewer a bulk replay, a dry run, the jobs and a resume (403), and answers 400 to a bad request", async () => {
    await endRuns(t.storage, "billing", "dead", 2, t0, revoked);
    for (const [method, path, body] of [
      ["POST", "/api/runs/replay", { status: "dead" }],
      ["POST", "/api/runs/replay", { status: "dead", dryRun: true }],
      ["POST", "/api/events/replay", { status: "quarantined" }],
      ["GET", "/api/bulk-actions", undefined],
      ["GET", "/api/bulk-actions/some-id", undefined],
      ["POST", "/api/bulk-actions/some-id/resume", undefined],
    ] as const) {
      const refused = await call(method, path, tokens.viewer, body);
      expect([path, refused.status, refused.json.error]).toEqual([path, 403, "forbidden"]);
    }
    expect((await t.storage.countRunsByStatus()).dead).toBe(2);

    for (const body of [
      { status: "alive" },
      { status: "dead", error: "" },
      { status: "dead", rps: 0 },
      { status: "dead", since: "yesterday" },
      { status: "dead", colour: "red" },
    ]) {
      const bad = await call("POST", "/api/runs/replay", tokens.operator, body);
      expect([JSON.stringify(body), bad.status, bad.json.error]).toEqual([JSON.stringify(body), 400, "invalid_replay"]);
    }
    const accepted = await call("POST", "/api/events/replay", tokens.operator, { status: "accepted" });
    expect([accepted.status, accepted.json.error]).toEqual([400, "invalid_replay"]);
    expect((await call("GET", "/api/bulk-actions/nope", tokens.operator)).status).toBe(404);
    expect((await call("POST", "/api/bulk-actions/nope/resume", tokens.operator)).status).toBe(404);
  });

  it("a job stopped half-way reads interrupted; resumed, it replays the rest and no run twice", async () => {
    await endRuns(t.storage, "billing", "dead", 240, t0, revoked);
    const started = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", rps: 40 });
    expect(started.status).toBe(202);
    const id = started.json.id as string;
    await waitFor(
      "the job's first page",
      async () => (await call("GET", `/api/bulk-actions/${id}`, tokens.operator)).json.done >= 40,
      30_000,
      20,
    );
    // The process stops while the job runs (between pages): it finishes its page and lets the job go.
    await stopApi(api);

    const second = t.db.open();
    others.push(second);
    const next = await startApi(second);
    const interrupted = (await call("GET", `/api/bulk-actions/${id}`, tokens.operator, undefined, next)).json;
    expect(interrupted.state).toBe("interrupted");
    expect(interrupted.done).toBeGreaterThanOrEqual(40);
    expect(interrupted.done).toBeLessThan(240);
    expect(interrupted.replayed).toBe(interrupted.done);
    expect((await second.countRunsByStatus()).queued).toBe(interrupted.replayed);

    const resumed = await call("POST", `/api/bulk-actions/${id}/resume`, tokens.operator, undefined, next);
    expect(resumed.status).toBe(202);
    expect(resumed.json.state).toBe("running");
    const refusedTwice = await call("POST", `/api/bulk-actions/${id}/resume`, tokens.operator, undefined, next);
    expect([refusedTwice.status, refusedTwice.json.error]).toEqual([409, "not_interrupted"]);

    const finished = await waitForState(id, "finished", next);
    expect(finished).toMatchObject({ total: 240, done: 240, replayed: 240, skipped: 0, failed: 0 });
    const runs = await second.listRuns({ integrationId: "billing", limit: 1000 });
    expect(runs.map((run) => run.status)).toEqual(runs.map(() => "queued"));
    for (const run of runs) expect((await replaysOf(second, run.id)).length).toBe(1);

    // Started again with the same filter, a bulk replay finds nothing left to replay.
    const rerun = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead" }, next);
    expect((await waitForState(rerun.json.id, "finished", next)).total).toBe(0);
    const log = await operatorLog(next);
    expect(log.filter((entry) => entry.target === id).map((entry) => [entry.action, entry.status])).toEqual([
      ["bulk action ended", null],
      ["POST /api/bulk-actions/:id/resume", 409],
      ["POST /api/bulk-actions/:id/resume", 202],
      ["POST /api/runs/replay", 202],
    ]);
  });

  it("replays quarantined and unmatched events as a job once the config takes them, never starting runs twice", async () => {
    // Sent while no integration listened: unmatched. And one quarantined with a JSON payload an integration takes now.
    for (let order = 1; order <= 30; order += 1) {
      await api.engine.send({ type: "order.paid", source: "shop", payload: { order } });
    }
    await api.engine.quarantine({
      source: "shop",
      type: "order.paid",
      payload: { order: 99 },
      reason: "was unreadable",
    });
    await api.engine.send({ type: "order.paid", source: "pos", payload: { order: 100 } });
    expect(await t.storage.countEventsByStatus()).toEqual({ unmatched: 31, quarantined: 1 });
    await stopApi(api);

    // The config is fixed (an integration listens now) and the process restarted.
    api = await startApi(t.storage, { integrations: [invoiceSync] });
    const preview = await call("POST", "/api/events/replay", tokens.operator, {
      status: "unmatched",
      source: "shop",
      dryRun: true,
    });
    expect(preview.json).toEqual({ dryRun: true, selected: 30 });
    expect(await operatorLog()).toEqual([]);

    const started = await call("POST", "/api/events/replay", tokens.operator, { status: "unmatched", source: "shop" });
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ kind: "replay-events", filter: { status: "unmatched", source: "shop" } });
    const finished = await waitForState(started.json.id, "finished");
    expect(finished).toMatchObject({ total: 30, done: 30, replayed: 30, skipped: 0, failed: 0 });

    const quarantined = await call("POST", "/api/events/replay", tokens.operator, { status: "quarantined" });
    expect(await waitForState(quarantined.json.id, "finished")).toMatchObject({ total: 1, replayed: 1 });
    expect(await t.storage.countEventsByStatus()).toEqual({ accepted: 31, unmatched: 1 });
    const runs = await t.storage.listRuns({ integrationId: "invoice-sync", limit: 1000 });
    expect(runs.length).toBe(31);
    expect(new Set(runs.map((run) => run.eventId)).size).toBe(31);

    const again = await call("POST", "/api/events/replay", tokens.operator, { status: "unmatched", source: "shop" });
    expect((await waitForState(again.json.id, "finished")).total).toBe(0);
    expect((await t.storage.listRuns({ integrationId: "invoice-sync", limit: 1000 })).length).toBe(31);
  });
});
