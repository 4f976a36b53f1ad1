import { describe, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { type Backend, backends, postgresBackend, postgresUrl, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { startTestServer } from "../support/server.ts";
import { tcpProxy } from "../support/tcp-proxy.ts";

async function probe(url: string, path: string) {
  const response = await fetch(`${url}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe.each(backends)("health probes on $name", (backend: Backend) => {
  const t = useTestStorage(backend);

  it("/readyz answers 503 until the schema is migrated, then 200; /healthz and /health answer 200 throughout", async () => {
    const engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    const http = await startTestServer(engine);
    try {
      const before = await probe(http.url, "/readyz");
      expect(before.status).toBe(503);
      expect(before.body.error).toBe("not_ready");
      expect(before.body.message).toMatch(/migration .* is not applied.*tenon migrate/);
      expect((await probe(http.url, "/healthz")).status).toBe(200);
      expect((await probe(http.url, "/health")).status).toBe(200);

      await engine.start();
      expect(await probe(http.url, "/readyz")).toEqual({
        status: 200,
        body: { status: "ready", storage: backend.name },
      });
      expect(await probe(http.url, "/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    } finally {
      await http.server.close();
      await engine.stop();
    }
  });
});

describe("readiness while PostgreSQL is unreachable", () => {
  const t = useTestStorage(postgresBackend);

  it("/readyz answers 503 while the database is silent or refuses connections, 200 once it is back; /healthz 200 throughout", async () => {
    await t.storage.migrate();
    const proxy = await tcpProxy(Number(new URL(postgresUrl).port || 5432));
    const viaProxy = new PostgresStorage({
      connectionString: postgresUrl.replace(/:\d+\//, `:${proxy.port}/`),
      schema: t.db.env.TENON_POSTGRES_SCHEMA as string,
    });
    const engine = testEngine({ storage: viaProxy, integrations: [], worker: false });
    await engine.start();
    const http = await startTestServer(engine);
    try {
      expect((await probe(http.url, "/readyz")).status).toBe(200);

      // Accepts the connection, never answers: the probe's own timeout must answer, not the orchestrator's.
      proxy.silence();
      const silent = await probe(http.url, "/readyz");
      expect(silent.status).toBe(503);
      expect(silent.body.message).toMatch(/PostgreSQL is unreachable/);
      expect((await probe(http.url, "/healthz")).status).toBe(200);

      await proxy.cut();
      const refused = await probe(http.url, "/readyz");
      expect(refused.status).toBe(503);
      expect(refused.body.message).toMatch(/PostgreSQL is unreachable.*ECONNREFUSED/);
      expect((await probe(http.url, "/healthz")).status).toBe(200);

      await proxy.restore();
      expect(await probe(http.url, "/readyz")).toEqual({ status: 200, body: { status: "ready", storage: "postgres" } });
      expect((await probe(http.url, "/healthz")).status).toBe(200);
    } finally {
      await http.server.close();
      await engine.stop();
      await proxy.close();
    }
  });
});
