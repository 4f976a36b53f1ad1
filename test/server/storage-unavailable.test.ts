import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { postgresBackend, postgresUrl, sqliteBackend, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";
import { tcpProxy } from "../support/tcp-proxy.ts";

const onPayment = defineIntegration({
  id: "on-payment",
  trigger: { event: "payment_intent.succeeded", source: "stripe" },
  run: () => {},
});

/**
 * Storage is down while a webhook arrives: the answer is 503 with Retry-After, nothing is stored,
 * and the provider's retry after recovery is accepted exactly once.
 */
async function expectOutageAnswered(storage: Storage, outage: { begin(): Promise<void>; end(): Promise<void> }) {
  const engine = testEngine({ storage, integrations: [onPayment], worker: false });
  await engine.start();
  const http = await startTestServer(engine);
  try {
    const request = stripeRequest("evt_during_outage");
    await outage.begin();
    const refused = await http.post("/hooks/stripe", request);
    expect(refused.status, refused.text).toBe(503);
    expect(refused.json.error).toBe("storage_unavailable");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    await outage.end();

    expect(await storage.listEvents()).toHaveLength(0);
    const retried = await http.post("/hooks/stripe", request);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.json.duplicate).toBe(false);
    expect(await storage.listEvents()).toHaveLength(1);
    expect(await storage.listRuns()).toHaveLength(1);
  } finally {
    await http.server.close();
    await engine.stop();
  }
}

describe("storage unavailable on sqlite", () => {
  const t = useTestStorage(sqliteBackend);

  it("another process holding the write lock past the busy timeout → 503, nothing half-written", async () => {
    await t.storage.migrate();
    const other = new Database(t.db.env.TENON_SQLITE_PATH as string);
    try {
      await expectOutageAnswered(t.storage, {
        async begin() {
          other.prepare("BEGIN EXCLUSIVE").run();
        },
        async end() {
          other.prepare("COMMIT").run();
        },
      });
    } finally {
      other.close();
    }
  });
});

describe("storage unavailable on postgres", () => {
  const t = useTestStorage(postgresBackend);

  it("the database connection drops → 503, nothing half-written", async () => {
    await t.storage.migrate();
    const proxy = await tcpProxy(Number(new URL(postgresUrl).port || 5432));
    const viaProxy = new PostgresStorage({
      connectionString: postgresUrl.replace(/:\d+\//, `:${proxy.port}/`),
      schema: t.db.env.TENON_POSTGRES_SCHEMA as string,
    });
    try {
      await expectOutageAnswered(viaProxy, { begin: proxy.cut, end: proxy.restore });
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });
});
