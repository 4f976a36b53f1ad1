import { ConfigurationError } from "../sdk/errors.ts";

/**
 * What the public server grants one client before it cuts it off. `/hooks` faces the internet: a client that
 * opens connections and sends its request a byte at a time (slowloris) must not hold them for long, nor hold many.
 */
export interface HttpLimits {
  /** A connection is closed if its request's headers are not all in this long after it opened (or after the request's first byte, on a kept-alive connection). */
  headersTimeoutMs: number;
  /** Likewise for the whole request, body included. At least `headersTimeoutMs`. */
  requestTimeoutMs: number;
  /** A kept-alive connection with no request in flight is closed after this long idle. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; one more is closed as soon as it is accepted. */
  maxConnections: number;
}

export const defaultHttpLimits: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
};

/** What Node's HTTP server is given to enforce `limits` (keep-alive and the connection count are set by the caller). */
export interface NodeTimeouts {
  connectionsCheckingInterval: number;
  headersTimeout: number;
  requestTimeout: number;
}

/**
 * Node does not time each connection: a sweep every `connectionsCheckingInterval` (30 s by default, hence the
 * half-sent requests that stayed open that long) closes those past their deadline. The sweep runs at a tenth of
 * the headers timeout (at most every second) and Node's deadlines are shortened by one sweep, so a client is cut
 * off by the configured time, not up to a sweep after it.
 */
export function nodeTimeouts(limits: HttpLimits): NodeTimeouts {
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new ConfigurationError(
      `the request timeout (${limits.requestTimeoutMs} ms) is shorter than the headers timeout (${limits.headersTimeoutMs} ms); a request's headers are part of it`,
    );
  }
  const sweepMs = Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 10)));
  if (limits.headersTimeoutMs <= sweepMs) {
    throw new ConfigurationError(
      `the headers timeout (${limits.headersTimeoutMs} ms) must be longer than ${sweepMs} ms`,
    );
  }
  return {
    connectionsCheckingInterval: sweepMs,
    headersTimeout: limits.headersTimeoutMs - sweepMs,
    requestTimeout: limits.requestTimeoutMs - sweepMs,
  };
}
