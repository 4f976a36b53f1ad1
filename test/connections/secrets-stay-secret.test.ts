import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import { credentialsScope } from "../../src/connections/vault/rotate-master-key.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections, testVault } from "../support/connections.ts";
import { databaseContents } from "../support/database-contents.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { OAuthTestServer } from "../support/oauth-server.ts";

const publicUrl = "http://127.0.0.1:3999";

/** Every way a secret could leak is exercised: success, 401, 5xx, token exchanges, a failed refresh. */
const touchesEveryConnection = defineIntegration<{ name: string }>({
  id: "touches",
  trigger: { event: "touch" },
  retries: { maxAttempts: 2, initialDelay: 10, maxDelay: 10 },
  run: ({ event, step, connection }) =>
    step.run("call", async () => {
      const client = connection(event.payload.name);
      const path = event.payload.name.startsWith("oauth") ? "/api/orders" : "/orders";
      return (await client.post(path, { json: { note: "hello" } })).status;
    }),
});

describe.each(backends)("secrets stay secret ($name)", (backend) => {
  const t = useTestStorage(backend);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("no token, key, password, client secret or refresh token appears in logs, errors, audit rows or the database", async () => {
    const api = new ApiTestServer();
    const oauth = new OAuthTestServer({
      clientSecret: "client-secret-Q7x2m9Lp",
      redirectUris: [`${publicUrl}/oauth/callback`],
    });
    await Promise.all([api.start(), oauth.start()]);
    cleanups.push(
      () => api.close(),
      () => oauth.close(),
    );
    // Anything that mentions an Authorization header or a key gets a 401; the rest alternate 500 and 200.
    let calls = 0;
    api.respond = (request) => {
      if (request.headers["x-api-key"] === "api-key-header-R3vW8kTz")
        return { status: 401, body: { error: "bad key" } };
      calls += 1;
      return calls % 2 === 1
        ? { status: 500, body: { echo: request.headers, query: request.query.toString() } }
        : { status: 200, body: { echo: request.body } };
    };
    const oauthConfig = (grant: "client_credentials" | "authorization_code"): ConnectionConfig => ({
      baseUrl: oauth.origin,
      auth:
        grant === "client_credentials"
          ? { type: "oauth2", grant, tokenUrl: oauth.tokenUrl }
          : { type: "oauth2", grant, tokenUrl: oauth.tokenUrl, authorizationUrl: oauth.authorizationUrl },
      credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
    });
    const configs: Record<string, ConnectionConfig> = {
      "key-header": {
        baseUrl: api.origin,
        auth: { type: "apiKey", in: "header", name: "X-Api-Key" },
        credentials: { apiKey: "api-key-header-R3vW8kTz" },
      },
      "key-query": {
        baseUrl: api.origin,
        auth: { type: "apiKey", in: "query", name: "api_key" },
        credentials: { apiKey: "api-key-query-M5nB2cXs" },
      },
      basic: {
        baseUrl: api.origin,
        auth: { type: "basic" },
        credentials: { username: "ann", password: "password-J4kD8sWq" },
      },
      bearer: { baseUrl: api.origin, auth: { type: "bearer" } },
      "oauth-cc": oauthConfig("client_credentials"),
      "oauth-code": oauthConfig("authorization_code"),
    };
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, { write: (line: string) => lines.push(line) });
    const vault = testVault();
    const connections = testConnections(t.storage, configs, { vault, logger, publicUrl });
    const engine: Engine = testEngine({
      storage: t.storage,
      integrations: [touchesEveryConnection],
      connections,
      logger,
    });
    await engine.start();
    cleanups.push(() => engine.stop({ deadlineMs: 1000 }));

    // A person stores a bearer token and authorises the OAuth connection in the browser.
    await connections.setCredentials("bearer", { token: "bearer-token-H6gF1zYu" });
    const approval = await fetch(await connections.startAuthorization("oauth-code"), { redirect: "manual" });
    await connections.completeAuthorization(new URL(approval.headers.get("location") ?? ""));

    const runIds: string[] = [];
    for (const name of Object.keys(configs)) {
      runIds.push(...(await engine.send({ type: "touch", payload: { name } })).runIds);
    }
    // Then the refresh token is revoked and the tokens expire: the refresh fails and the connection is auth_failed.
    oauth.revokeRefreshTokens();
    oauth.expireAccessTokens();
    runIds.push(...(await engine.send({ type: "touch", payload: { name: "oauth-code" } })).runIds);
    for (const runId of runIds) await waitForRunStatus(t.storage, runId, ["succeeded", "failed", "dead", "paused"]);
    await connections.audit.flush();

    const stored = await t.storage.connections.getConnection("oauth-code");
    const tokens = JSON.parse(vault.open(credentialsScope("oauth-code"), stored?.sealedCredentials ?? "")) as Record<
      string,
      string
    >;
    const issuedBearer = oauth.apiRequests
      .map((r) => /^Bearer (\S+)$/.exec(r.headers.authorization ?? "")?.[1])
      .filter((token): token is string => token !== undefined);
    const secrets = [
      "api-key-header-R3vW8kTz",
      "api-key-query-M5nB2cXs",
      "password-J4kD8sWq",
      Buffer.from("ann:password-J4kD8sWq").toString("base64"),
      "bearer-token-H6gF1zYu",
      "client-secret-Q7x2m9Lp",
      tokens.accessToken ?? "missing access token",
      tokens.refreshToken ?? "missing refresh token",
      ...issuedBearer,
    ];
    expect(issuedBearer.length).toBeGreaterThan(0);

    const runs = await Promise.all(runIds.map((id) => t.storage.getRun(id)));
    const steps = await Promise.all(runIds.map((id) => t.storage.listSteps(id)));
    const audit = await t.storage.connections.listAudit({ limit: 1000 });
    expect(audit.length).toBeGreaterThan(runIds.length);
    const places: Record<string, string> = {
      logs: lines.join(""),
      errors: JSON.stringify([runs.map((r) => r?.lastError), steps]),
      audit: JSON.stringify(audit),
      incidents: JSON.stringify(await t.storage.connections.listIncidents()),
      database: await databaseContents(backend.name, t.db.env),
    };
    expect(places.errors).toContain("answered 500");
    expect(places.audit).toContain('"connectionId":"oauth-code"');
    for (const [place, text] of Object.entries(places)) {
      for (const secret of secrets) {
        expect(text.includes(secret), `${place} contains the secret ${secret.slice(0, 4)}…`).toBe(false);
      }
    }
  });
});
