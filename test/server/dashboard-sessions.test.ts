import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { apiTokenHash } from "../../src/server/api-tokens.ts";
import { createServer, type ServerOptions, type TenonServer } from "../../src/server/create-server.ts";
import { createSignInLink } from "../../src/server/dashboard-sessions.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { databaseContents } from "../support/database-contents.ts";
import { endRuns } from "../support/ended-runs.ts";
import { testEngine } from "../support/engine.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const minute = 60_000;
const hour = 60 * minute;
const tokens = {
  operator: "operator-token-0123456789",
  viewer: "viewer-token-0123456789",
};
const envTokens = [
  { name: "alice", role: "operator" as const, token: tokens.operator },
  { name: "wallboard", role: "viewer" as const, token: tokens.viewer },
];

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
  json: any;
  text: string;
}

describe.each(backends)("dashboard sessions on $name", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine;
  let server: TenonServer | undefined;
  let url: string;
  let clock: number;
  let logLines: string[];

  async function start(options: Partial<ServerOptions> = {}) {
    server = createServer({
      engine,
      // Everything, at the most verbose level: no session id, token or code may appear in it.
      logger: pino(
        { level: "trace" },
        new Writable({
          write(chunk, _encoding, done) {
            logLines.push(String(chunk));
            done();
          },
        }),
      ),
      apiTokens: envTokens,
      now: () => clock,
      ...options,
    });
    url = await server.listen({ host: "127.0.0.1", port: 0 });
  }

  beforeEach(async () => {
    clock = t0;
    logLines = [];
    await t.storage.migrate();
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await engine.stop();
  });

  async function call(
    method: string,
    path: string,
    options: { cookie?: string; csrf?: string; bearer?: string; body?: unknown; accept?: string } = {},
  ): Promise<Answer> {
    const response = await fetch(`${url}${path}`, {
      method,
      redirect: "manual",
      headers: {
        ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
        ...(options.csrf === undefined ? {} : { "x-csrf-token": options.csrf }),
        ...(options.bearer === undefined ? {} : { authorization: `Bearer ${options.bearer}` }),
        ...(options.accept === undefined ? {} : { accept: options.accept }),
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  /** Signs in with `token`: the cookie to send back (`tenon_session=…`), its id and the session's CSRF token. */
  async function signIn(token: string) {
    const answer = await call("POST", "/auth/session", { body: { token } });
    expect(answer.status, answer.text).toBe(200);
    return { ...sessionCookie(answer.headers), csrf: answer.json.csrfToken as string, answer };
  }

  it("signs in with an operator token: an httpOnly, SameSite=Strict cookie for the whole site, and the session's identity", async () => {
    await start();
    const { cookie, id, csrf, answer } = await signIn(tokens.operator);
    expect(answer.json).toEqual({
      name: "alice",
      role: "operator",
      csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      expiresAt: new Date(t0 + 12 * hour).toISOString(),
    });
    expect(answer.headers.get("cache-control")).toBe("no-store");
    const [setCookie] = answer.headers.getSetCookie();
    expect(setCookie).toBe(`tenon_session=${id}; Max-Age=604800; Path=/; HttpOnly; SameSite=Strict`);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrf).not.toBe(id);

    const again = await call("GET", "/auth/session", { cookie });
    expect([again.status, again.json]).toEqual([200, answer.json]);
    const runs = await call("GET", "/api/runs", { cookie });
    expect(runs.status, runs.text).toBe(200);
    expect(runs.json.runs).toEqual([]);

    // The table holds the id's digest only; neither the id, the CSRF token nor the API token is anywhere in the database.
    const contents = await databaseContents(backend.name, t.db.env);
    expect(contents).toContain(apiTokenHash(id));
    for (const secret of [id, csrf, tokens.operator]) expect(contents).not.toContain(secret);
    for (const secret of [id, csrf, tokens.operator]) expect(logLines.join("")).not.toContain(secret);
  });

  it("needs x-csrf-token with the session's token for a call that changes something; refusals are not logged as the person's", async () => {
    await start();
    await endRuns(t.storage, "billing", "dead", 1, t0 - hour);
    const [run] = await t.storage.listRuns();
    const replay = `/api/runs/${run?.id}/replay`;
    const { cookie, csrf } = await signIn(tokens.operator);

    for (const header of [undefined, "", "not-the-token", `${csrf}x`]) {
      const refused = await call("POST", replay, { cookie, ...(header === undefined ? {} : { csrf: header }) });
      expect([refused.status, refused.json.error], `x-csrf-token ${header}`).toEqual([403, "csrf"]);
      expect(refused.json.message).toContain("x-csrf-token");
    }
    expect((await t.storage.getRun(run?.id as string))?.status).toBe("dead");

    const replayed = await call("POST", replay, { cookie, csrf });
    expect(replayed.status, replayed.text).toBe(200);
    expect((await t.storage.getRun(run?.id as string))?.status).toBe("queued");
    // Who replayed it is the token's name, as for a bearer call.
    const history = await t.storage.listRunHistory(run?.id as string);
    expect(history.filter((entry) => entry.kind === "replay").map((entry) => entry.actor)).toEqual(["api:alice"]);
    const log = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log.map((entry) => [entry.actor, entry.role, entry.action, entry.status])).toEqual([
      ["alice", "operator", "POST /api/runs/:id/replay", 200],
      ["alice", "operator", "POST /auth/session", 200],
    ]);
  });

  it("gives a viewer's session what the viewer token gets: reads, and 403 on a call that changes something", async () => {
    await start();
    await endRuns(t.storage, "billing", "dead", 1, t0 - hour);
    const [run] = await t.storage.listRuns();
    const { cookie, csrf, answer } = await signIn(tokens.viewer);
    expect(answer.json).toMatchObject({ name: "wallboard", role: "viewer" });
    expect((await call("GET", "/api/runs", { cookie })).status).toBe(200);

    const refused = await call("POST", `/api/runs/${run?.id}/replay`, { cookie, csrf });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({
      error: "forbidden",
      message: 'POST /api/runs/:id/replay needs the operator role; this token ("wallboard") has the viewer role',
    });
    expect((await t.storage.getRun(run?.id as string))?.status).toBe("dead");
    const [entry] = await t.storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(entry).toMatchObject({ actor: "wallboard", role: "viewer", status: 403 });
  });

  it("signs out (with the CSRF header): 204, the cookie cleared, and the old cookie opens nothing any more", async () => {
    await start();
    const { cookie, csrf } = await signIn(tokens.operator);
    const forged = await call("DELETE", "/auth/session", { cookie });
    expect([forged.status, forged.json.error]).toEqual([403, "csrf"]);
    expect((await call("GET", "/auth/session", { cookie })).status).toBe(200);

    const out = await call("DELETE", "/auth/session", { cookie, csrf });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie()).toEqual([
      "tenon_session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict",
    ]);
    const gone = await call("GET", "/auth/session", { cookie });
    expect([gone.status, gone.json.error]).toEqual([401, "no_session"]);
    const api = await call("GET", "/api/runs", { cookie });
    expect([api.status, api.json.error]).toEqual([401, "unauthorized"]);
    expect(api.json.message).toContain("sign in again");
    expect((await call("DELETE", "/auth/session", { cookie, csrf })).status).toBe(401);
    const [entry] = await t.storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(entry).toMatchObject({ actor: "alice", action: "DELETE /auth/session", status: 204, detail: "signed out" });
  });

  it("ends the sessions of a revoked token within the token cache's 5 s, and follows a stored token's role", async () => {
    await start({ apiTokens: [] });
    const token = "tenon_stored-token-for-bob";
    await t.storage.operatorAccess.createApiToken({
      name: "bob",
      role: "operator",
      tokenHash: apiTokenHash(token),
      now: t0,
    });
    const { cookie } = await signIn(token);
    expect((await call("GET", "/api/runs", { cookie })).status).toBe(200);

    await t.storage.operatorAccess.revokeApiToken("bob", clock);
    clock += 4999;
    expect((await call("GET", "/api/runs", { cookie })).status).toBe(200);
    clock += 1;
    expect((await call("GET", "/api/runs", { cookie })).status).toBe(401);
    expect((await call("GET", "/auth/session", { cookie })).status).toBe(401);
    // Nor can the revoked token open a new session.
    expect((await call("POST", "/auth/session", { body: { token } })).json.error).toBe("invalid_token");
  });

  it("ends a session unused for 12 h, and any session 7 days after sign-in; a use is written at most once a minute", async () => {
    await start();
    const idle = await signIn(tokens.operator);
    const busy = await signIn(tokens.viewer);
    const lastSeen = async () => (await t.storage.sessions.findSession(apiTokenHash(busy.id), clock))?.lastSeenAt;

    clock += 30_000;
    expect((await call("GET", "/api/runs", { cookie: busy.cookie })).status).toBe(200);
    expect(await lastSeen()).toBe(t0);
    clock += 30_000;
    const moved = await call("GET", "/auth/session", { cookie: busy.cookie });
    expect(moved.json.expiresAt).toBe(new Date(t0 + minute + 12 * hour).toISOString());
    expect(await lastSeen()).toBe(t0 + minute);

    // Used every 11 hours, a session lives on; unused for 12 hours, it ends.
    clock = t0 + 12 * hour;
    expect((await call("GET", "/auth/session", { cookie: idle.cookie })).status).toBe(401);
    for (let at = t0 + 11 * hour; at < t0 + 7 * 24 * hour; at += 11 * hour) {
      clock = at;
      expect((await call("GET", "/api/runs", { cookie: busy.cookie })).status, new Date(at).toISOString()).toBe(200);
    }
    clock = t0 + 7 * 24 * hour - 1;
    expect((await call("GET", "/auth/session", { cookie: busy.cookie })).json.expiresAt).toBe(
      new Date(t0 + 7 * 24 * hour).toISOString(),
    );
    clock = t0 + 7 * 24 * hour;
    expect((await call("GET", "/api/runs", { cookie: busy.cookie })).status).toBe(401);

    // Expired sessions are deleted when the next one is made.
    await signIn(tokens.operator);
    expect(await t.storage.sessions.findSession(apiTokenHash(busy.id), 0)).toBeNull();
    expect(await t.storage.sessions.findSession(apiTokenHash(idle.id), 0)).toBeNull();
  });

  it("judges a request with a bearer token by the token alone, cookie or not", async () => {
    await start();
    const { cookie } = await signIn(tokens.operator);
    const wrong = await call("GET", "/api/runs", { cookie, bearer: "not-a-token" });
    expect([wrong.status, wrong.json.error]).toEqual([401, "unauthorized"]);
    // A bearer call needs no CSRF header: no browser adds an Authorization header by itself.
    const sent = await call("POST", "/api/events", {
      bearer: tokens.operator,
      body: { source: "shop", type: "order.paid", payload: {} },
    });
    expect(sent.status, sent.text).toBeLessThan(300);
  });

  it("refuses unknown tokens and malformed sign-ins with what to do, and slows down an address that keeps failing", async () => {
    await start();
    const unknown = await call("POST", "/auth/session", { body: { token: "guess-1" } });
    expect([unknown.status, unknown.json.error]).toEqual([401, "invalid_token"]);
    expect(unknown.json.message).toContain("tenon tokens create");
    expect(unknown.headers.getSetCookie()).toEqual([]);
    expect(unknown.text).not.toContain("guess-1");

    expect((await call("POST", "/auth/session", { body: { secret: tokens.operator } })).json.error).toBe(
      "invalid_sign_in",
    );
    // A form, as another site's page could post without CORS: refused, so no one can be signed in unawares.
    const form = await fetch(`${url}/auth/session`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${tokens.operator}`,
    });
    expect(form.status).toBe(400);
    expect(form.headers.getSetCookie()).toEqual([]);

    for (let i = 2; i <= 10; i++) {
      expect((await call("POST", "/auth/session", { body: { token: `guess-${i}` } })).status).toBe(401);
    }
    const limited = await call("POST", "/auth/session", { body: { token: tokens.operator } });
    expect([limited.status, limited.json.error]).toEqual([429, "too_many_sign_ins"]);
    expect(limited.headers.get("retry-after")).toBe("60");
    clock += 60_000;
    expect((await call("POST", "/auth/session", { body: { token: tokens.operator } })).status).toBe(200);
    for (const guess of ["guess-1", "guess-10"]) expect(logLines.join("")).not.toContain(guess);
  });

  it("sets a Secure cookie when TENON_PUBLIC_URL is https", async () => {
    await start({ publicUrl: "https://tenon.example.com" });
    const answer = await call("POST", "/auth/session", { body: { token: tokens.operator } });
    expect(answer.headers.getSetCookie()[0]).toMatch(/; HttpOnly; Secure; SameSite=Strict$/);
  });

  it("signs in once with a one-time link, as its name and role, and redirects to /; the second use is 401", async () => {
    // No API token at all: the API would be disabled, but a link session still opens it.
    await start({ apiTokens: [] });
    const code = await createSignInLink(t.storage.sessions, { name: "dev-link", role: "admin", now: clock });
    // A client that only checks the link (HEAD) does not use it up.
    expect((await call("HEAD", `/auth/link?code=${code}`)).status).toBe(404);
    const opened = await call("GET", `/auth/link?code=${code}`, { accept: "text/html" });
    expect(opened.status).toBe(303);
    expect(opened.headers.get("location")).toBe("/");
    expect(opened.headers.get("referrer-policy")).toBe("no-referrer");
    const { cookie } = sessionCookie(opened.headers);
    expect((await call("GET", "/auth/session", { cookie })).json).toMatchObject({ name: "dev-link", role: "admin" });
    const api = await call("GET", "/api/operator-log", { cookie });
    expect(api.status).toBe(200);
    expect(api.json.entries[0]).toMatchObject({
      actor: "dev-link",
      role: "admin",
      action: "GET /auth/link",
      detail: "signed in with a one-time link",
    });

    const second = await call("GET", `/auth/link?code=${code}`, { accept: "text/html" });
    expect(second.status).toBe(401);
    expect(second.headers.get("content-type")).toMatch(/^text\/html/);
    expect(second.text).toContain("tenon dashboard-link");
    expect(second.headers.getSetCookie()).toEqual([]);
    const json = await call("GET", `/auth/link?code=${code}`);
    expect([json.status, json.json.error]).toEqual([401, "invalid_link"]);

    const contents = await databaseContents(backend.name, t.db.env);
    expect(contents).not.toContain(code);
    expect(logLines.join("")).not.toContain(code);
  });

  it("lets only one of two requests that open the same link at once sign in", async () => {
    await start();
    const code = await createSignInLink(t.storage.sessions, { name: "dev-link", role: "admin", now: clock });
    const answers = await Promise.all([1, 2, 3].map(() => call("GET", `/auth/link?code=${code}`)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([303, 401, 401]);
  });

  it("refuses a link 10 minutes after it was made", async () => {
    await start();
    const fresh = await createSignInLink(t.storage.sessions, { name: "dev-link", role: "admin", now: clock });
    const stale = await createSignInLink(t.storage.sessions, { name: "dev-link", role: "admin", now: clock });
    clock += 10 * minute - 1;
    expect((await call("GET", `/auth/link?code=${fresh}`)).status).toBe(303);
    clock += 1;
    expect((await call("GET", `/auth/link?code=${stale}`)).json.error).toBe("invalid_link");
  });

  it("counts bad link codes as failed sign-ins: an address that keeps guessing waits", async () => {
    await start();
    const code = await createSignInLink(t.storage.sessions, { name: "dev-link", role: "admin", now: clock });
    for (let i = 0; i < 10; i++) expect((await call("GET", "/auth/link?code=guess")).status).toBe(401);
    const limited = await call("GET", `/auth/link?code=${code}`);
    expect([limited.status, limited.json.error]).toEqual([429, "too_many_sign_ins"]);
    clock += 60_000;
    expect((await call("GET", `/auth/link?code=${code}`)).status).toBe(303);
  });

  it("redirects a link only to a path on this server (no open redirect); a bad `next` leaves the link usable", async () => {
    await start();
    const code = await createSignInLink(t.storage.sessions, { name: "dev-link", role: "operator", now: clock });
    for (const next of ["https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "runs"]) {
      const answer = await call("GET", `/auth/link?code=${code}&next=${encodeURIComponent(next)}`);
      expect([answer.status, answer.json.error], next).toEqual([400, "invalid_next"]);
      expect(answer.headers.get("location")).toBeNull();
    }
    const opened = await call("GET", `/auth/link?code=${code}&next=${encodeURIComponent("/runs/run-1?tab=timeline")}`);
    expect(opened.status).toBe(303);
    expect(opened.headers.get("location")).toBe("/runs/run-1?tab=timeline");
  });
});

/** The session cookie a response set: as a Cookie header to send back, and the session id it holds. */
function sessionCookie(headers: Headers): { cookie: string; id: string } {
  const set = headers.getSetCookie().find((line) => line.startsWith("tenon_session="));
  const id = /^tenon_session=([^;]*)/.exec(set ?? "")?.[1];
  if (!id) throw new Error(`no tenon_session cookie in ${JSON.stringify(headers.getSetCookie())}`);
  return { cookie: `tenon_session=${id}`, id };
}
