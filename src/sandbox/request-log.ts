import type { FastifyRequest } from "fastify";

/** One API request as the sandbox system received it: what the request-format tests compare with the real API's docs. */
export interface CapturedRequest {
  /** Epoch ms of arrival. */
  at: number;
  method: string;
  /** The path under the system's prefix (`/admin/api/2025-07/orders.json`, not `/store/admin/…`). */
  path: string;
  query: Record<string, string>;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The body exactly as sent ("" for none). */
  body: string;
}

const kept = 10_000;

/** The most recent requests a sandbox system received, oldest first. */
export class RequestLog {
  #entries: CapturedRequest[] = [];

  capture(request: FastifyRequest, at: number): void {
    const url = new URL(request.url, "http://sandbox");
    const prefix = request.routeOptions.url?.startsWith("/") ? request.url.split("/")[1] : "";
    const path = url.pathname.slice(prefix ? prefix.length + 1 : 0) || "/";
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    this.record({
      at,
      method: request.method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: request.rawBody,
    });
  }

  /** Keeps a request that did not come through the sandbox's HTTP routes (an SMTP message). */
  record(request: CapturedRequest): void {
    this.#entries.push(request);
    if (this.#entries.length > kept * 1.5) this.#entries = this.#entries.slice(-kept);
  }

  all(): readonly CapturedRequest[] {
    return this.#entries.length > kept ? this.#entries.slice(-kept) : this.#entries;
  }

  recent(limit: number): CapturedRequest[] {
    return this.#entries.slice(-limit);
  }
}
