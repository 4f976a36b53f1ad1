import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections, testVault } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { OAuthTestServer } from "../support/oauth-server.ts";
import { waitFor } from "../support/wait.ts";

const publicUrl = "http://127.0.0.1:3999";

const callsCrm = defineIntegration({
  id: "calls-crm",
  trigger: { event: "go" },
  retries: { maxAttempts: 3, initialDelay: 10, maxDelay: 20 },
  run: ({ step, connection }) => step.run("fetch", async () => (await connection("crm").get("/api/me")).status),
});

describe.each(backends)("OAuth2 token lifecycle ($name)", (backend) => {
  const t = useTestStorage(backend);
  let oauth: OAuthTestServer;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    oauth = new OAuthTestServer({ redirectUris: [`${publicUrl}/oauth/callback`] });
    await oauth.start();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await oauth.close();
  });

  function authorizationCode(): ConnectionConfig {
    return {
      baseUrl: oauth.origin,
      auth: {
        type: "oauth2",
        grant: "authorization_code",
        authorizationUrl: oauth.authorizationUrl,
        tokenUrl: oauth.tokenUrl,
        scopes: ["contacts"],
      },
      credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
    };
  }

  /** Connections and a worker engine on `storage`, stopped after the test. */
  async function start(storage: Storage, config: ConnectionConfig, vault = testVault()) {
    const connections = testConnections(storage, { crm: config }, { publicUrl, vault });
    const engine = testEngine({ storage, integrations: [callsCrm], connections });
    await engine.start();
    cleanups.push(() => engine.stop({ deadlineMs: 1000 }));
    return { connections, engine };
  }

  /** What a person does in the browser: start, approve at the provider, land on our callback. */
  async function authorize(connections: Connections) {
    const providerUrl = await connections.startAuthorization("crm");
    const approval = await fetch(providerUrl, { redirect: "manual" });
    const callback = approval.headers.get("location");
    if (!callback) throw new Error(`the provider did not redirect back (${approval.status})`);
    return connections.completeAuthorization(new URL(callback));
  }

  async function runOne(engine: Engine) {
    const { runIds } = await engine.send({ type: "go", payload: {} });
    return runIds[0] as string;
  }

  it("refreshes once on a 401 and retries the request, using no attempt", async () => {
    const { connections, engine } = await start(t.storage, authorizationCode());
    await authorize(connections);
    oauth.expireAccessTokens();
    const run = await waitForRunStatus(t.storage, await runOne(engine), "succeeded");
    expect(run.failures).toBe(0);
    expect((await t.storage.listSteps(run.id))[0]?.failures).toBe(0);
    expect(oauth.tokenRequests.refresh_token).toBe(1);
    expect(oauth.apiRequests.map((r) => r.headers.authorization === undefined)).toEqual([false, false]);
  });

  it("marks a revoked connection auth_failed, pauses its runs without using attempts, and resumes them once re-authorised", async () => {
    const { connections, engine } = await start(t.storage, authorizationCode());
    await authorize(connections);
    oauth.revokeRefreshTokens();
    oauth.expireAccessTokens();
    const runIds = [await runOne(engine), await runOne(engine), await runOne(engine)];
    for (const runId of runIds) {
      const paused = await waitForRunStatus(t.storage, runId, "paused");
      expect(paused.failures).toBe(0);
      expect(paused.waitingOn).toBe("crm");
      expect(paused.lastError).toContain("auth_failed");
    }
    expect((await connections.describe("crm")).status).toBe("auth_failed");
    const incidents = await t.storage.connections.listIncidents({ connectionId: "crm" });
    expect(incidents.map((i) => i.kind)).toEqual(["auth_failed"]);

    const { resumedRuns } = await authorize(connections);
    expect(resumedRuns).toBe(3);
    for (const runId of runIds) {
      const run = await waitForRunStatus(t.storage, runId, "succeeded");
      expect(run.failures).toBe(0);
      expect((await t.storage.listSteps(runId))[0]?.failures ?? 0).toBe(0);
    }
    expect((await connections.describe("crm")).status).toBe("active");
    const kinds = (await t.storage.connections.listIncidents({ connectionId: "crm" })).map((i) => i.kind);
    expect(kinds).toEqual(["auth_restored", "auth_failed"]);
  });

  it("asks for one token when ten parallel runs find it expired, across workers", async () => {
    const config: ConnectionConfig = {
      baseUrl: oauth.origin,
      auth: { type: "oauth2", grant: "client_credentials", tokenUrl: oauth.tokenUrl },
      credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
      refreshSkew: 0,
    };
    oauth.tokenLifetimeSec = 1;
    const vault = testVault();
    const first = await start(t.storage, config, vault);
    // A second worker process's worth of engine on the same database (SQLite is owned by one process).
    const engines = [first.engine];
    if (backend.name === "postgres") {
      const second = t.db.open();
      cleanups.push(() => second.close());
      engines.push((await start(second, config, vault)).engine);
    }
    await waitForRunStatus(t.storage, await runOne(first.engine), "succeeded");
    expect(oauth.tokenRequests.client_credentials).toBe(1);
    await waitFor(
      "the token to expire",
      async () => ((await t.storage.connections.getConnection("crm"))?.expiresAt ?? 0) < Date.now() || null,
    );

    oauth.tokenLifetimeSec = 3600;
    oauth.delayTokenResponsesMs = 300;
    const runIds = await Promise.all(
      Array.from({ length: 10 }, (_, i) => runOne(engines[i % engines.length] as Engine)),
    );
    for (const runId of runIds) await waitForRunStatus(t.storage, runId, "succeeded");
    expect(oauth.tokenRequests.client_credentials).toBe(2);
  });
});
