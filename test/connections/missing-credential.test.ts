import { afterEach, describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { sqliteBackend, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";

describe("a connection without a credential its scheme needs (SQLite)", () => {
  const t = useTestStorage(sqliteBackend);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("is marked auth_failed and its runs stay paused, using no attempt, until the credential is stored", async () => {
    const api = new ApiTestServer();
    await api.start();
    cleanups.push(() => api.close());
    api.respond = () => ({ status: 200, body: {} });
    const connections = testConnections(t.storage, { crm: { baseUrl: api.origin, auth: { type: "bearer" } } });
    let attempts = 0;
    const calling = defineIntegration({
      id: "calls-crm",
      trigger: { event: "call" },
      run: ({ step, connection }) =>
        step.run("call", async () => {
          attempts += 1;
          return (await connection("crm").get("/contacts")).status;
        }),
    });
    const engine = testEngine({ storage: t.storage, integrations: [calling], connections });
    await engine.start();
    cleanups.push(() => engine.stop());

    const { runIds } = await engine.send({ type: "call", payload: {} });
    const runId = runIds[0] as string;
    const paused = await waitForRunStatus(t.storage, runId, "paused");
    expect(paused.failures).toBe(0);
    expect(paused.lastError).toContain('no "token" credential');
    expect(await connections.describe("crm")).toMatchObject({ status: "auth_failed" });
    // Paused, not released: it is not claimed again and again while nothing has changed.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(attempts).toBe(1);
    expect(api.requests).toHaveLength(0);

    expect(await connections.setCredentials("crm", { token: "crm-token" })).toBe(1);
    const done = await waitForRunStatus(t.storage, runId, "succeeded");
    expect(done.failures).toBe(0);
    expect(api.requests[0]?.headers.authorization).toBe("Bearer crm-token");
  });
});
