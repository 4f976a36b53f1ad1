import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Connections } from "../../src/connections/connections.ts";
import { openVault } from "../../src/connections/vault/open-vault.ts";
import { credentialsScope } from "../../src/connections/vault/rotate-master-key.ts";
import type { Vault } from "../../src/connections/vault/vault.ts";
import type { Engine } from "../../src/engine/engine.ts";
import type { ErrorBody } from "../../src/server/http-errors.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { OAuthTestServer } from "../support/oauth-server.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";

/**
 * Where the provider sends the browser back: a reverse proxy in front of Tenon, as in production.
 * The test plays the proxy by delivering the callback's path and query to the real server.
 */
const publicUrl = "https://tenon.example.com";
const token = "test-api-token-123";

describe.each(backends)("the OAuth routes on $name", (backend) => {
  const t = useTestStorage(backend);
  let keyDir: string;
  let vault: Vault;
  let oauth: OAuthTestServer;
  let connections: Connections;
  let engine: Engine;
  let http: RunningServer;

  beforeEach(async () => {
    oauth = new OAuthTestServer({ redirectUris: [`${publicUrl}/oauth/callback`] });
    await oauth.start();
    // A real key file, generated as on a laptop without TENON_MASTER_KEY.
    keyDir = mkdtempSync(join(tmpdir(), "tenon-oauth-routes-"));
    vault = openVault({ env: {}, cwd: keyDir, logger: silentLogger });
    connections = new Connections({
      storage: t.storage,
      vault,
      logger: silentLogger,
      publicUrl,
      configs: {
        crm: {
          baseUrl: oauth.origin,
          auth: {
            type: "oauth2",
            grant: "authorization_code",
            authorizationUrl: oauth.authorizationUrl,
            tokenUrl: oauth.tokenUrl,
            scopes: ["contacts"],
          },
          credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
        },
        ledger: { baseUrl: oauth.origin, auth: { type: "bearer" } },
      },
    });
    engine = testEngine({ storage: t.storage, integrations: [], worker: false, connections });
    await engine.start();
    // API tokens are configured, yet the browser's requests carry none: the state protects these routes.
    http = await startTestServer(engine, { apiTokens: [token], sources: {}, connections, publicUrl });
  });
  afterEach(async () => {
    await http.server.close();
    await engine.stop();
    await oauth.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  /** What the browser does: open our start URL, follow to the provider, who approves (or declines) and redirects back. */
  async function approveAtProvider(query = ""): Promise<URL> {
    const start = await fetch(`${http.url}/oauth/crm/start${query}`, { redirect: "manual" });
    expect(start.status, await start.clone().text()).toBe(302);
    const providerUrl = start.headers.get("location") ?? "";
    expect(providerUrl.startsWith(`${oauth.authorizationUrl}?`)).toBe(true);
    const approval = await fetch(providerUrl, { redirect: "manual" });
    expect(approval.status, await approval.clone().text()).toBe(302);
    const callback = new URL(approval.headers.get("location") ?? "");
    expect(`${callback.origin}${callback.pathname}`).toBe(`${publicUrl}/oauth/callback`);
    return callback;
  }

  /** The proxy at publicUrl forwarding the browser's callback request to Tenon. */
  async function deliver(callback: URL) {
    const response = await fetch(`${http.url}${callback.pathname}${callback.search}`, { redirect: "manual" });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  it("authorises a connection: start, approve, callback; the tokens are stored sealed and work at the API", async () => {
    const callback = await approveAtProvider();
    const code = callback.searchParams.get("code") ?? "";
    expect(code).not.toBe("");

    const answer = await deliver(callback);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.text).toContain("Connection crm is authorised; 0 paused runs resumed");
    expect(answer.text).not.toContain(code);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
    expect(oauth.tokenRequests.authorization_code).toBe(1);

    const record = await t.storage.connections.getConnection("crm");
    const stored = JSON.parse(vault.open(credentialsScope("crm"), record?.sealedCredentials ?? ""));
    expect(stored).toEqual({ accessToken: expect.stringMatching(/^at_/), refreshToken: expect.stringMatching(/^rt_/) });
    expect(record?.sealedCredentials).not.toContain(stored.accessToken);
    expect(record?.sealedCredentials).not.toContain(stored.refreshToken);
    expect(record?.expiresAt).toBeGreaterThan(Date.now());

    const response = await connections.client("crm").request({ path: "/api/contacts" });
    expect(response.status).toBe(200);
    expect(oauth.apiRequests.at(-1)?.headers.authorization).toBe(`Bearer ${stored.accessToken}`);
  });

  it("sends the person back to return_to after the callback", async () => {
    const answer = await deliver(await approveAtProvider(`?return_to=${encodeURIComponent("/settings?tab=crm")}`));
    expect(answer.status, answer.text).toBe(302);
    expect(answer.headers.get("location")).toBe("/settings?tab=crm");
    expect(await t.storage.connections.getConnection("crm")).toMatchObject({ status: "active" });
  });

  it("refuses a return_to that leads off this server (no open redirect)", async () => {
    for (const returnTo of ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example", "x"]) {
      const start = await fetch(`${http.url}/oauth/crm/start?return_to=${encodeURIComponent(returnTo)}`, {
        redirect: "manual",
      });
      expect(start.status, JSON.stringify(returnTo)).toBe(400);
      expect((await errorBody(start)).error).toBe("invalid_return_to");
    }
  });

  it("refuses a replayed callback (400): the state is single use and the code is not exchanged again", async () => {
    const callback = await approveAtProvider();
    expect((await deliver(callback)).status).toBe(200);
    const replay = await deliver(callback);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.text)).toMatchObject({ error: "invalid_authorization" });
    expect(replay.text).toContain("start again");
    expect(replay.text).not.toContain(callback.searchParams.get("code"));
    expect(oauth.tokenRequests.authorization_code).toBe(1);
  });

  it("refuses a forged state (400) and leaves the real authorisation usable", async () => {
    const callback = await approveAtProvider();
    const forged = new URL(callback);
    forged.searchParams.set("state", "forged-state-value");
    const refused = await deliver(forged);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text).error).toBe("invalid_authorization");
    expect(oauth.tokenRequests.authorization_code).toBe(0);
    expect(await t.storage.connections.getConnection("crm")).toBeNull();

    expect((await deliver(callback)).status).toBe(200);
  });

  it("reports a declined authorisation (access_denied) as 400 and stores nothing", async () => {
    oauth.denyNext();
    const callback = await approveAtProvider();
    expect(callback.searchParams.get("error")).toBe("access_denied");
    const answer = await deliver(callback);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: "authorization_refused" });
    expect(answer.text).toContain("declined");
    expect(oauth.tokenRequests.authorization_code).toBe(0);
    expect(await t.storage.connections.getConnection("crm")).toBeNull();
  });

  it("answers 502 when the token endpoint fails, so the person tries again", async () => {
    const callback = await approveAtProvider();
    oauth.failTokenRequests(1, 503);
    const answer = await deliver(callback);
    expect(answer.status, answer.text).toBe(502);
    expect(JSON.parse(answer.text)).toMatchObject({ error: "token_endpoint_unavailable" });
    expect(answer.text).toContain("try again");
    expect(answer.text).not.toContain(callback.searchParams.get("code"));
    expect(await t.storage.connections.getConnection("crm")).toBeNull();

    expect((await deliver(await approveAtProvider())).status).toBe(200);
  });

  it("answers 404 for an unknown connection and 400 for one without authorization codes", async () => {
    const unknown = await fetch(`${http.url}/oauth/nope/start`, { redirect: "manual" });
    expect([unknown.status, (await errorBody(unknown)).error]).toEqual([404, "unknown_connection"]);
    const bearer = await fetch(`${http.url}/oauth/ledger/start`, { redirect: "manual" });
    const body = await errorBody(bearer);
    expect([bearer.status, body.error]).toEqual([400, "not_authorizable"]);
    expect(body.message).toContain("does not use OAuth2 authorization codes");
  });
});

async function errorBody(response: Response): Promise<ErrorBody> {
  return (await response.json()) as ErrorBody;
}
