import { afterEach, describe, expect, it } from "vitest";
import { ApiTestServer } from "../../support/api-server.ts";
import { sqliteBackend, useTestStorage } from "../../support/backends.ts";
import { testConnections, testVault } from "../../support/connections.ts";

describe("a lost master key (SQLite)", () => {
  const t = useTestStorage(sqliteBackend);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("stored credentials cannot be read, and replacing them with new ones repairs the connection", async () => {
    const api = new ApiTestServer();
    await t.storage.migrate();
    await api.start();
    cleanups.push(() => api.close());
    api.respond = () => ({ status: 200, body: {} });
    const configs = { crm: { baseUrl: api.origin, auth: { type: "bearer" as const } } };
    const before = testConnections(t.storage, configs, { vault: testVault() });
    await before.setCredentials("crm", { token: "token-under-the-lost-key" });
    await before.stop();

    const after = testConnections(t.storage, configs, { vault: testVault() });
    cleanups.push(() => after.stop());
    await expect(after.client("crm").get("/contacts")).rejects.toThrow(/sealed under master key [0-9a-f]{16}/);
    // Merging needs the old fields, so it refuses; replacing does not.
    await expect(after.setCredentials("crm", { token: "new-token" })).rejects.toThrow(
      /which this process does not have/,
    );
    await after.setCredentials("crm", { token: "new-token" }, { replace: true });

    expect((await after.client("crm").get("/contacts")).status).toBe(200);
    expect(api.requests.at(-1)?.headers.authorization).toBe("Bearer new-token");
  });
});
