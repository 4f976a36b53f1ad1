import { connect, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import type { HttpLimits } from "../../src/server/http-limits.ts";
import { sqliteBackend, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";

/** Far above the timeouts configured here: only a server that never cuts the client off misses it. */
const generousBoundMs = 8_000;

interface RawClient {
  socket: Socket;
  /** Resolves with what the server sent, once the server has closed the connection. */
  closedByServer: Promise<string>;
}

describe("the public server and slow or greedy clients", () => {
  const t = useTestStorage(sqliteBackend);
  let engine: Engine;
  let http: RunningServer | undefined;
  const clients: Socket[] = [];

  beforeEach(async () => {
    await t.storage.migrate();
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
  });

  afterEach(async () => {
    for (const socket of clients.splice(0)) socket.destroy();
    await http?.server.close();
    http = undefined;
  });

  async function serve(limits: Partial<HttpLimits>): Promise<RunningServer> {
    http = await startTestServer(engine, { httpLimits: limits });
    return http;
  }

  async function open(url: string): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    clients.push(socket);
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    const closedByServer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the server kept the connection open over ${generousBoundMs} ms`)),
        generousBoundMs,
      );
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(received);
      });
    });
    // The rejection is awaited by the test that cares; the others close the socket themselves.
    closedByServer.catch(() => {});
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return { socket, closedByServer };
  }

  it("cuts off a client that never finishes its headers, and still serves the others", async () => {
    const { url, post } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    const slow = await open(url);
    slow.socket.write("POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl");

    await expect(slow.closedByServer).resolves.toMatch(/^HTTP\/1\.1 408 /);
    expect((await post("/hooks/nope", stripeRequest("evt_1"))).status).toBe(404);
  });

  it("cuts off a client that connects and sends nothing", async () => {
    const { url } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    const silent = await open(url);

    await expect(silent.closedByServer).resolves.toMatch(/^HTTP\/1\.1 408 /);
  });

  it("cuts off a client whose body never arrives whole, by the request timeout", async () => {
    const { url } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    const slow = await open(url);
    slow.socket.write(
      "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );

    await expect(slow.closedByServer).resolves.toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes connections beyond the cap as they come in, keeping those it holds", async () => {
    const { url, server } = await serve({ maxConnections: 2 });
    const held = [await open(url), await open(url)];
    await waitForConnections(server.app.server, 2);

    const extra = await open(url);
    await expect(extra.closedByServer).resolves.toBe("");
    for (const client of held) expect(client.socket.readyState).toBe("open");
  });
});

/** Resolves once the server has accepted `count` connections (they are counted when accepted, not when connected). */
async function waitForConnections(server: RunningServer["server"]["app"]["server"], count: number): Promise<void> {
  for (;;) {
    const open = await new Promise<number>((resolve, reject) =>
      server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
    );
    if (open >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
