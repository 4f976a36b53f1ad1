import { connect, createServer as createTcpServer, type Server, type Socket } from "node:net";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { postgresBackend, postgresUrl, sqliteBackend, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";

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
    const proxy = await tcpProxy(new URL(postgresUrl).port || "5432");
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

/** A TCP forwarder to PostgreSQL that a test can cut (every connection dropped, new ones refused) and restore. */
async function tcpProxy(targetPort: string) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      const listening = createTcpServer((client) => {
        const upstream = connect(Number(targetPort), "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("error", () => {});
          s.on("close", () => {
            sockets.delete(s);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server = listening;
      listening.listen(port, "127.0.0.1", () => {
        port = (listening.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server?.close(resolve));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    cut,
    restore: listen,
    close: cut,
  };
}
