import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import { type Backend, backends, useTestStorage } from "../support/backends.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe.each(backends)("tenon tokens and the CLI in the operator log ($name)", (backend: Backend) => {
  const t = useTestStorage(backend);
  let cwd: string;
  let engine: Engine;
  let server: TenonServer;
  let url: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-tokens-"));
    await t.storage.migrate();
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
    // No configured token: only those the CLI makes. No lookup cache, so a revocation shows at once.
    server = createServer({ engine, logger: silentLogger, apiTokenCacheMs: 0 });
    url = await server.listen({ host: "127.0.0.1", port: 0 });
  });
  afterEach(async () => {
    await server.close();
    await engine.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  const tenon = (args: string[]) => runTenonCli(cwd, args, t.db.env);
  const status = async (token: string) =>
    (await fetch(`${url}/api/operator-log`, { headers: { authorization: `Bearer ${token}` } })).status;

  it("creates a token printed once and stored only as its hash; it works until revoked", async () => {
    const created = await tenon(["tokens", "create", "--role", "operator", "--name", "alice"]);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(created.stdout).toMatch(/^tenon_[A-Za-z0-9_-]{43}\n$/);
    expect(created.stderr).toContain("only time it is shown");

    const rows = await t.storage.operatorAccess.listApiTokens();
    expect(rows).toEqual([
      {
        name: "alice",
        role: "operator",
        tokenHash: createHash("sha256").update(token).digest("hex"),
        createdAt: expect.any(Number),
        revokedAt: null,
        lastUsedAt: null,
      },
    ]);
    expect(JSON.stringify(rows)).not.toContain(token.slice("tenon_".length));

    expect(await status(token)).toBe(200);
    expect(await status(`${token}x`)).toBe(401);

    const listed = await tenon(["tokens", "list"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/alice\s+operator\s+stored\s+.+active/);
    expect(listed.stdout).not.toContain(token.slice("tenon_".length));
    expect(listed.stdout).not.toContain(rows[0]?.tokenHash);

    const again = await tenon(["tokens", "create", "--role", "viewer", "--name", "alice"]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('an API token named "alice" exists already');

    const revoked = await tenon(["tokens", "revoke", "alice"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('API token "alice" is revoked');
    expect(await status(token)).toBe(401);
    expect((await t.storage.operatorAccess.listApiTokens())[0]?.revokedAt).toEqual(expect.any(Number));
    expect((await tenon(["tokens", "list"])).stdout).toMatch(/alice\s+operator\s+stored\s+.+revoked/);
    expect((await tenon(["tokens", "revoke", "alice"])).stderr).toContain("was revoked already");
    expect((await tenon(["tokens", "create", "--role", "root", "--name", "x"])).stderr).toContain(
      "choose one of viewer, operator, admin",
    );

    const log = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log.map((entry) => [entry.via, entry.actor, entry.action, entry.target])).toEqual([
      ["cli", userInfo().username, "tenon tokens revoke", "alice"],
      ["cli", userInfo().username, "tenon tokens create", "alice"],
    ]);
  });

  it("writes a replay made with the CLI to the operator log and to the run's history, as the OS user", async () => {
    await t.storage.acceptEvents([
      {
        id: "event-1",
        source: "shop",
        type: "order.paid",
        dedupKey: null,
        payloadJson: "{}",
        receivedAt: t0,
        runs: [{ id: "run-1", integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
      },
    ]);
    await t.storage.claimDueRuns({ leaseToken: "l", limit: 1, now: t0, leaseUntil: t0 + 60_000 });
    await t.storage.applyTransitions([
      {
        kind: "finishRunWithError",
        runId: "run-1",
        leaseToken: "l",
        status: "dead",
        error: "retries exhausted",
        stepFailure: null,
        attempt: 1,
        attemptStartedAt: t0,
        now: t0 + 10,
      },
    ]);
    const user = userInfo().username;
    const replayed = await tenon(["replay", "run-1"]);
    expect(replayed.code, replayed.stderr).toBe(0);
    const [entry] = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(entry).toMatchObject({
      actor: user,
      role: null,
      via: "cli",
      action: "tenon replay",
      target: "run-1",
      status: null,
      ip: null,
      detail: "replayed",
    });
    const replays = (await t.storage.listRunHistory("run-1")).filter((h) => h.kind === "replay");
    expect(replays.map((h) => h.actor)).toEqual([`cli:${user}`]);
    const shown = await tenon(["runs", "show", "run-1"]);
    expect(shown.stdout).toContain(`replayed (was dead) by ${user} (CLI)`);

    const missing = await tenon(["replay", "no-such-run"]);
    expect(missing.code).not.toBe(0);
    const [failed] = await t.storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(failed).toMatchObject({
      action: "tenon replay",
      target: "no-such-run",
      detail: "failed: run no-such-run does not exist",
    });
  });
});
