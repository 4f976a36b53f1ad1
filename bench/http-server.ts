/**
 * The API under test for `bench/http.ts`, in its own process so the client being measured never shares its event loop.
 *
 *   node --import tsx bench/http-server.ts
 *
 * A bare node:http server on 127.0.0.1: any POST has its body read and is answered 200 with the same ~200-byte JSON
 * body. `GET /stats` answers what it has seen so far: `{ posts, withIdempotencyKey, withBearer, bodyBytes }`.
 * Prints `{"url":"http://127.0.0.1:<port>"}` on stdout once it listens, and on SIGTERM closes and exits 0.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const responseBytes = 200;

/** A plausible order confirmation, padded to exactly `responseBytes` bytes of JSON. */
function orderResponse(): string {
  const order = { id: "ord_01HZX3K9V7Q2M5N8P4R6T1W0YB", status: "accepted", amount: 4200, currency: "eur", note: "" };
  order.note = "x".repeat(Math.max(0, responseBytes - JSON.stringify(order).length));
  return JSON.stringify(order);
}

const body = orderResponse();
const headers = { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
const stats = { posts: 0, withIdempotencyKey: 0, withBearer: 0, bodyBytes: 0 };

const server = createServer((request, response) => {
  if (request.method === "GET" && request.url === "/stats") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(stats));
    return;
  }
  stats.posts++;
  if (request.headers["idempotency-key"] !== undefined) stats.withIdempotencyKey++;
  if (request.headers.authorization?.startsWith("Bearer ")) stats.withBearer++;
  request.on("data", (chunk: Buffer) => {
    stats.bodyBytes += chunk.length;
  });
  request.on("end", () => {
    response.writeHead(200, headers);
    response.end(body);
  });
});
// Longer than the clients' idle time between phases, so a keep-alive socket is not closed under a request.
server.keepAliveTimeout = 60_000;

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);

await new Promise<void>((resolve) => {
  process.once("SIGTERM", () => resolve());
  process.once("SIGINT", () => resolve());
});
server.closeAllConnections();
await new Promise<void>((resolve) => server.close(() => resolve()));
