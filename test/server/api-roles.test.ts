import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { apiTokenHash } from "../../src/server/api-tokens.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const tokens = {
  admin: "admin-token-0123456789",
  operator: "operator-token-0123456789",
  viewer: "viewer-token-0123456789",
};
const envTokens = [
  tokens.admin,
  { name: "alice", role: "operator" as const, token: tokens.operator },
  { name: "wallboard", role: "viewer" as const, token: tokens.viewer },
];

/** A dead run of "billing", made through storage as a worker would leave it. */
async function deadRun(storage: Storage, runId: string): Promise<void> {
  await storage.acceptEvents([
    {
      id: `event-of-${runId}`,
      source: "shop",
      type: "order.paid",
      dedupKey: null,
      payloadJson: "{}",
      receivedAt: t0,
      runs: [{ id: runId, integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
    },
  ]);
  const claimed = await storage.claimDueRuns({ leaseToken: runId, limit: 1, now: t0, leaseUntil: t0 + 60_000 });
  expect(claimed.map((run) => run.id)).toEqual([runId]);
  const [ok] = await storage.applyTransitions([
    {
      kind: "finishRunWithError",
      runId,
      leaseToken: runId,
      status: "dead",
      error: "retries exhausted",
      stepFailure: null,
      attempt: 1,
      attemptStartedAt: t0,
      now: t0 + 10,
    },
  ]);
  expect(ok).toBe(true);
}

describe.each(backends)("API roles and the operator log on $name", (backend) => {
  const t = useTestStorage(backend);
  let connections: Connections;
  let engine: Engine;
  let server: TenonServer;
  let url: string;
  let clock: number;

  async function start(options: { apiTokens?: typeof envTokens; apiTokenCacheMs?: number } = {}) {
    server = createServer({
      engine,
      logger: silentLogger,
      connections,
      apiTokens: options.apiTokens ?? envTokens,
      now: () => clock,
      ...(options.apiTokenCacheMs === undefined ? {} : { apiTokenCacheMs: options.apiTokenCacheMs }),
    });
    // Routes the access check has never heard of, as another module would add them.
    server.app.get("/api/widgets", async () => ({ widgets: [] }));
    server.app.post("/api/widgets", async () => ({ created: true }));
    url = await server.listen({ host: "127.0.0.1", port: 0 });
  }

  beforeEach(async () => {
    clock = Date.now();
    await t.storage.migrate();
    connections = testConnections(t.storage, {
      crm: { baseUrl: "https://crm.example.com", auth: { type: "apiKey", in: "header", name: "X-Api-Key" } },
    });
    engine = testEngine({ storage: t.storage, integrations: [], worker: false, connections });
    await engine.start();
  });
  afterEach(async () => {
    await server?.close();
    await engine.stop();
  });

  async function call(method: string, path: string, token: string | null, body?: unknown) {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as any };
  }

  it("lets a viewer read (200) but not replay (403 naming the role needed and the token's); nothing is replayed", async () => {
    await start();
    await deadRun(t.storage, "run-1");
    expect((await call("GET", "/api/connections", tokens.viewer)).status).toBe(200);

    const refused = await call("POST", "/api/runs/run-1/replay", tokens.viewer);
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({
      error: "forbidden",
      message: 'POST /api/runs/:id/replay needs the operator role; this token ("wallboard") has the viewer role',
    });
    expect((await t.storage.getRun("run-1"))?.status).toBe("dead");
    expect((await call("POST", "/api/runs/replay", tokens.viewer, { status: "dead" })).status).toBe(403);
    expect((await call("POST", "/api/events/event-of-run-1/replay", tokens.viewer)).status).toBe(403);
    // The operator log names people and addresses: operators read it, viewers do not.
    expect((await call("GET", "/api/operator-log", tokens.viewer)).status).toBe(403);
    expect((await t.storage.getRun("run-1"))?.status).toBe("dead");
  });

  it("replays a run for an operator, records who in its history, and writes the call to the operator log", async () => {
    await start();
    await deadRun(t.storage, "run-1");
    const answer = await call("POST", "/api/runs/run-1/replay", tokens.operator);
    expect(answer.status).toBe(200);
    expect(answer.json.run).toEqual({
      id: "run-1",
      integrationId: "billing",
      status: "queued",
      previousStatus: "dead",
    });
    expect((await t.storage.getRun("run-1"))?.status).toBe("queued");
    const history = await t.storage.listRunHistory("run-1");
    expect(history.filter((entry) => entry.kind === "replay")).toEqual([
      expect.objectContaining({ kind: "replay", detail: "dead", actor: "api:alice" }),
    ]);

    const log = await call("GET", "/api/operator-log", tokens.operator);
    expect(log.status).toBe(200);
    expect(log.json.entries).toEqual([
      {
        at: clock,
        actor: "alice",
        role: "operator",
        via: "api",
        action: "POST /api/runs/:id/replay",
        target: "run-1",
        status: 200,
        ip: "127.0.0.1",
        detail: "was dead, now queued",
      },
    ]);
    expect(log.json.nextCursor).toBeNull();
  });

  it("records refused calls of a known token too, and no reads", async () => {
    await start();
    await deadRun(t.storage, "run-1");
    await call("GET", "/api/connections", tokens.operator);
    await call("POST", "/api/runs/run-1/replay", tokens.viewer);
    await call("POST", "/api/runs/run-1/replay", "not-a-token");
    const { entries } = (await call("GET", "/api/operator-log", tokens.admin)).json;
    expect(entries).toEqual([
      expect.objectContaining({ actor: "wallboard", role: "viewer", status: 403, target: "run-1", detail: null }),
    ]);
  });

  it("answers what a replay could not do: 404 for an unknown run or event, 409 for a running run", async () => {
    await start();
    expect((await call("POST", "/api/runs/nope/replay", tokens.operator)).json.error).toBe("unknown_run");
    expect((await call("POST", "/api/events/nope/replay", tokens.operator)).json.error).toBe("unknown_event");
    await t.storage.acceptEvents([
      {
        id: "event-2",
        source: "shop",
        type: "order.paid",
        dedupKey: null,
        payloadJson: "{}",
        receivedAt: t0,
        runs: [{ id: "run-2", integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
      },
    ]);
    await t.storage.claimDueRuns({ leaseToken: "l", limit: 1, now: t0, leaseUntil: t0 + 60_000 });
    const running = await call("POST", "/api/runs/run-2/replay", tokens.operator);
    expect([running.status, running.json.error]).toEqual([409, "not_replayable"]);
    expect(running.json.message).toContain("is running right now");
  });

  it("replays an event for an operator: fresh runs for the integrations it matches now (none here)", async () => {
    await start();
    await deadRun(t.storage, "run-1");
    const answer = await call("POST", "/api/events/event-of-run-1/replay", tokens.operator);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ eventId: "event-of-run-1", requalified: false, status: "rerun", runIds: [] });
    const { entries } = (await call("GET", "/api/operator-log", tokens.operator)).json;
    expect(entries[0]).toMatchObject({ action: "POST /api/events/:id/replay", target: "event-of-run-1", status: 200 });
  });

  it("replays dead runs in bulk for an operator as a job, after a dry run, and logs the start and the outcome", async () => {
    await start();
    for (const id of ["run-1", "run-2", "run-3"]) await deadRun(t.storage, id);
    const preview = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", dryRun: true });
    expect(preview.json).toEqual({ dryRun: true, selected: 3 });
    expect((await t.storage.getRun("run-1"))?.status).toBe("dead");

    const other = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", integration: "crm-sync" });
    expect([other.status, other.json.total]).toEqual([202, 0]);
    const answer = await call("POST", "/api/runs/replay", tokens.operator, {
      status: "dead",
      integration: "billing",
      since: new Date(t0 - 1000).toISOString(),
    });
    expect(answer.status).toBe(202);
    expect(answer.json).toMatchObject({ kind: "replay-runs", actor: "alice", total: 3 });
    const finished = await waitFor("the bulk replay to finish", async () => {
      const job = await call("GET", `/api/bulk-actions/${answer.json.id}`, tokens.operator);
      return job.json.state === "finished" ? job.json : null;
    });
    expect(finished).toMatchObject({ total: 3, done: 3, replayed: 3, skipped: 0, failed: 0, reasons: {} });
    for (const id of ["run-1", "run-2", "run-3"]) {
      expect(await t.storage.getRun(id)).toMatchObject({ status: "queued" });
      const replays = (await t.storage.listRunHistory(id)).filter((entry) => entry.kind === "replay");
      expect(replays.map((entry) => entry.actor)).toEqual(["api:alice"]);
    }
    const again = await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", dryRun: true });
    expect(again.json).toEqual({ dryRun: true, selected: 0 });

    const bad = await call("POST", "/api/runs/replay", tokens.operator, { status: "alive" });
    expect([bad.status, bad.json.error]).toEqual([400, "invalid_replay"]);
    expect(
      (await call("POST", "/api/runs/replay", tokens.operator, { status: "dead", since: "yesterday" })).status,
    ).toBe(400);
    const { entries } = (await call("GET", "/api/operator-log?limit=10", tokens.operator)).json;
    const selection = `runs: status dead, integration billing, since ${new Date(t0 - 1000).toISOString()}`;
    expect(
      entries.map((entry: { status: number; detail: string | null }) => [entry.status, entry.detail]),
    ).toContainEqual([202, `started a bulk action (${selection}): 3 selected`]);
    expect(
      entries.map((entry: { status: number; detail: string | null }) => [entry.status, entry.detail]),
    ).toContainEqual([null, `${selection}: finished, replayed 3, skipped 0, failed 0 of 3`]);
    // The dry runs (answered 200) changed nothing and are not in the log.
    expect(entries.filter((entry: { status: number }) => entry.status === 200)).toEqual([]);
  });

  it("keeps credentials to admins: an operator gets 403 and nothing is stored; an admin stores them", async () => {
    await start();
    const body = { credentials: { apiKey: "sk_live_do-not-leak" } };
    const refused = await call("PUT", "/api/connections/crm/credentials", tokens.operator, body);
    expect(refused.status).toBe(403);
    expect(refused.json.message).toBe(
      'PUT /api/connections/:id/credentials needs the admin role; this token ("alice") has the operator role',
    );
    expect(await t.storage.connections.getConnection("crm")).toBeNull();

    const stored = await call("PUT", "/api/connections/crm/credentials", tokens.admin, body);
    expect(stored.status).toBe(200);
    const { entries } = (await call("GET", "/api/operator-log", tokens.admin)).json;
    expect(
      entries.map((entry: { actor: string; role: string; status: number }) => [entry.actor, entry.role, entry.status]),
    ).toEqual([
      ["env-1", "admin", 200],
      ["alice", "operator", 403],
    ]);
    expect(JSON.stringify(entries)).not.toContain("sk_live");
  });

  it("protects routes it has never seen: reads need viewer, an undeclared write needs admin", async () => {
    await start();
    expect((await call("GET", "/api/widgets", null)).status).toBe(401);
    expect((await call("GET", "/api/widgets", tokens.viewer)).status).toBe(200);
    const write = await call("POST", "/api/widgets", tokens.operator, {});
    expect([write.status, write.json.message]).toEqual([
      403,
      'POST /api/widgets needs the admin role; this token ("alice") has the operator role',
    ]);
    expect((await call("POST", "/api/widgets", tokens.admin, {})).status).toBe(200);
  });

  it("answers 404 for unknown routes whatever the token, never 401 or 403", async () => {
    await start();
    for (const token of [null, "not-a-token", tokens.viewer]) {
      for (const [method, path] of [
        ["GET", "/api/nothing-here"],
        ["POST", "/api/nothing-here"],
        ["DELETE", "/api/runs/run-1/replay"],
        ["GET", "/api/runs/run-1/replay/more"],
      ] as const) {
        const answer = await call(method, path, token);
        expect([answer.status, answer.json.error], `${method} ${path} with ${token}`).toEqual([404, "not_found"]);
      }
    }
  });

  it("accepts a stored token by its hash, and refuses it once revoked (after the lookup cache's 5 s)", async () => {
    await start({ apiTokens: [] });
    expect((await call("GET", "/api/connections", "tenon_stored-token")).json.error).toBe("api_disabled");

    const token = "tenon_stored-token-for-bob";
    await t.storage.operatorAccess.createApiToken({
      name: "bob",
      role: "operator",
      tokenHash: apiTokenHash(token),
      now: clock,
    });
    // "Disabled" was cached: still so within 5 s, as a revocation would be.
    clock += 5000;
    expect((await call("GET", "/api/connections", "wrong")).json.error).toBe("unauthorized");
    expect((await call("GET", "/api/connections", token)).status).toBe(200);
    const [row] = await t.storage.operatorAccess.listApiTokens();
    expect(row).toMatchObject({ name: "bob", lastUsedAt: clock, revokedAt: null });

    await deadRun(t.storage, "run-1");
    expect((await call("POST", "/api/runs/run-1/replay", token)).status).toBe(200);
    expect((await t.storage.operatorAccess.listOperatorLog({ limit: 10 }))[0]).toMatchObject({
      actor: "bob",
      role: "operator",
    });

    expect(await t.storage.operatorAccess.revokeApiToken("bob", clock)).toBe(true);
    clock += 4999;
    expect((await call("GET", "/api/connections", token)).status).toBe(200);
    clock += 1;
    const refused = await call("GET", "/api/connections", token);
    expect([refused.status, refused.json.error]).toEqual([401, "api_disabled"]);
  });

  it("pages the operator log newest first with a cursor, from `since`", async () => {
    await start();
    const store = t.storage.operatorAccess;
    for (let i = 0; i < 5; i++) {
      await store.recordOperatorAction({
        at: t0 + i * 1000,
        actor: "carol",
        role: "operator",
        via: "api",
        action: "POST /api/runs/:id/replay",
        target: `run-${i}`,
        status: 200,
        ip: "10.0.0.1",
        detail: null,
      });
    }
    const first = (await call("GET", `/api/operator-log?limit=2&since=${t0 + 1000}`, tokens.operator)).json;
    expect(first.entries.map((entry: { target: string }) => entry.target)).toEqual(["run-4", "run-3"]);
    const second = (
      await call("GET", `/api/operator-log?limit=2&since=${t0 + 1000}&cursor=${first.nextCursor}`, tokens.operator)
    ).json;
    expect(second.entries.map((entry: { target: string }) => entry.target)).toEqual(["run-2", "run-1"]);
    const last = (
      await call("GET", `/api/operator-log?limit=2&since=${t0 + 1000}&cursor=${second.nextCursor}`, tokens.operator)
    ).json;
    expect(last).toEqual({ entries: [], nextCursor: null });
    expect((await call("GET", "/api/operator-log?cursor=bogus", tokens.operator)).json.error).toBe("invalid_cursor");
    expect((await call("GET", "/api/operator-log?since=today", tokens.operator)).json.error).toBe("invalid_since");
  });
});
