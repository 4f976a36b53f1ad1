import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { postgresBackend, postgresUrl, useTestStorage } from "../support/backends.ts";
import { testConnections, testVault } from "../support/connections.ts";
import { OAuthTestServer } from "../support/oauth-server.ts";
import { waitFor } from "../support/wait.ts";

const publicUrl = "http://127.0.0.1:3999";

/** The status of a call through the connection, or the error it threw, by name and message. */
async function outcome(call: Promise<{ status: number }>): Promise<number | string> {
  return call.then(
    (response) => response.status,
    (error: Error) => `${error.name}: ${error.message}`,
  );
}

describe("a token refresh whose lock was lost does not spend the refresh token twice (PostgreSQL)", () => {
  const t = useTestStorage(postgresBackend);
  let oauth: OAuthTestServer;
  let admin: pg.Client;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    oauth = new OAuthTestServer({ redirectUris: [`${publicUrl}/oauth/callback`] });
    await oauth.start();
    admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    await t.storage.migrate();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await admin.end();
    await oauth.close();
  });

  const config = (): ConnectionConfig => ({
    baseUrl: oauth.origin,
    auth: {
      type: "oauth2",
      grant: "authorization_code",
      authorizationUrl: oauth.authorizationUrl,
      tokenUrl: oauth.tokenUrl,
    },
    credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
  });

  function worker(storage: Storage, vault: ReturnType<typeof testVault>): Connections {
    const connections = testConnections(storage, { crm: config() }, { publicUrl, vault });
    cleanups.push(() => connections.stop());
    return connections;
  }

  async function authorize(connections: Connections): Promise<void> {
    const approval = await fetch(await connections.startAuthorization("crm"), { redirect: "manual" });
    await connections.completeAuthorization(new URL(approval.headers.get("location") ?? ""));
  }

  /** The backends holding the connection's refresh lock (an advisory lock keyed by schema and connection). */
  async function refreshLockHolders(): Promise<number[]> {
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND objid::bigint = (hashtext($1)::bigint & 4294967295)`,
      [`tenon_refresh:${t.db.env.TENON_POSTGRES_SCHEMA}:crm`],
    );
    return rows.map((r) => r.pid);
  }

  it("the second worker waits for the first one's token instead of sending the rotated refresh token again: one refresh, no auth_failed", async () => {
    const vault = testVault();
    const first = worker(t.storage, vault);
    const otherStorage = t.db.open();
    cleanups.push(() => otherStorage.close());
    const second = worker(otherStorage, vault);
    await authorize(first);
    oauth.expireAccessTokens();

    // Worker 1 refreshes; the provider rotates the refresh token at once but its answer is slow to arrive.
    const release = oauth.holdNextTokenResponse();
    const firstCall = outcome(first.client("crm").get("/api/me"));
    await waitFor("worker 1's refresh to reach the token endpoint", () => oauth.tokenRequests.refresh_token === 1);
    // Meanwhile its lock is lost: the lock's connection is cut (a network fault, an idle-in-transaction timeout).
    const [holder] = await refreshLockHolders();
    await admin.query("SELECT pg_terminate_backend($1)", [holder]);
    await waitFor("the refresh lock to be free", async () => (await refreshLockHolders()).length === 0);

    // Worker 2's token is refused too; it takes the lock. Give it every chance to send the spent refresh token.
    const secondCall = outcome(second.client("crm").get("/api/me"));
    await Promise.race([secondCall, sleep(1000)]);
    release();

    expect(await firstCall).toBe(200);
    expect(await secondCall).toBe(200);
    expect(oauth.tokenRequests.refresh_token).toBe(1);
    expect((await first.describe("crm")).status).toBe("active");
    expect(await t.storage.connections.listIncidents({ connectionId: "crm" })).toEqual([]);
  });
});
