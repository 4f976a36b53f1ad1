import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import { type Backend, backends, useTestStorage } from "../support/backends.ts";
import { databaseContents } from "../support/database-contents.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

describe.each(backends)("tenon dashboard-link ($name)", (backend: Backend) => {
  const t = useTestStorage(backend);
  let cwd: string;
  let engine: Engine;
  let server: TenonServer;
  let url: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-dashboard-link-"));
    await t.storage.migrate();
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
    // A running deployment with no API token at all: the link alone gets a browser in.
    server = createServer({ engine, logger: silentLogger });
    url = await server.listen({ host: "127.0.0.1", port: 0 });
  });
  afterEach(async () => {
    await server.close();
    await engine.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  const tenon = (args: string[], env: Record<string, string> = {}) => runTenonCli(cwd, args, { ...t.db.env, ...env });

  /** Opens the link's path on the test server (the printed host and port are the settings', not the test server's). */
  async function open(link: string) {
    const { pathname, search } = new URL(link);
    return fetch(`${url}${pathname}${search}`, { redirect: "manual" });
  }

  it("prints a link, alone on stdout, that signs a browser in once with the role asked for; the CLI's user is in the operator log", async () => {
    const made = await tenon(["dashboard-link", "--role", "operator", "--name", "carol"]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^http:\/\/127\.0\.0\.1:3000\/auth\/link\?code=[A-Za-z0-9_-]{43}\n$/);
    expect(made.stderr).toContain('a sign-in link for "carol" (operator): it works once, within 10 minutes');
    const link = made.stdout.trim();

    const opened = await open(link);
    expect([opened.status, opened.headers.get("location")]).toEqual([303, "/"]);
    const cookie = /^tenon_session=[^;]+/.exec(opened.headers.getSetCookie()[0] ?? "")?.[0] as string;
    const session = await fetch(`${url}/auth/session`, { headers: { cookie } });
    expect(await session.json()).toMatchObject({ name: "carol", role: "operator" });
    expect((await fetch(`${url}/api/operator-log`, { headers: { cookie } })).status).toBe(200);
    expect((await open(link)).status).toBe(401);

    const log = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log.map((entry) => [entry.via, entry.actor, entry.action, entry.target, entry.detail])).toEqual([
      ["api", "carol", "GET /auth/link", null, "signed in with a one-time link"],
      ["cli", userInfo().username, "tenon dashboard-link", "carol", "role operator"],
    ]);
    const code = new URL(link).searchParams.get("code") as string;
    expect(await databaseContents(backend.name, t.db.env)).not.toContain(code);
  });

  it("signs in as an admin named after the OS user by default, at TENON_PUBLIC_URL when it is set", async () => {
    const made = await tenon(["dashboard-link"], { TENON_PUBLIC_URL: "https://tenon.example.com" });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^https:\/\/tenon\.example\.com\/auth\/link\?code=/);
    const opened = await open(made.stdout.trim());
    const cookie = /^tenon_session=[^;]+/.exec(opened.headers.getSetCookie()[0] ?? "")?.[0] as string;
    expect(await (await fetch(`${url}/auth/session`, { headers: { cookie } })).json()).toMatchObject({
      name: userInfo().username,
      role: "admin",
    });
  });

  it("refuses an unknown role or a name the operator log could not show, and makes no link", async () => {
    const role = await tenon(["dashboard-link", "--role", "root"]);
    expect(role.code).not.toBe(0);
    expect(role.stderr).toContain('--role is "root"; choose one of viewer, operator, admin');
    const name = await tenon(["dashboard-link", "--name", "two words"]);
    expect(name.code).not.toBe(0);
    expect(name.stderr).toContain('--name is "two words"');
    expect(role.stdout + name.stdout).toBe("");
    expect(await t.storage.operatorAccess.listOperatorLog({ limit: 10 })).toEqual([]);
  });
});
