import type { FormData } from "undici";

/**
 * A configured connection (`connections` in tenon.config.ts) as integration code and connectors use it: what
 * `connection("crm")` returns in a run, a poll or a reconciliation, and what `hubspot.client(…)` binds its
 * operations to. Every request goes through the connection's auth, rate limit, circuit breaker and audit trail;
 * a write made inside `step.run` carries the step's idempotency key. A request resolves with a 2xx/3xx answer, or
 * throws the error that tells the run what to do (`RetryableError`, `NonRetryableError`, `RateLimitedError`,
 * `CircuitOpenError`, `AuthError`). Tenon's implementation: `connections/http/connection-client.ts`.
 */
export interface ConnectionClient {
  /** The connection's name in tenon.config.ts. */
  readonly connectionId: string;
  get<Body = unknown>(path: string, options?: Omit<RequestOptions, "path" | "method">): Promise<HttpResponse<Body>>;
  post<Body = unknown>(path: string, options?: Omit<RequestOptions, "path" | "method">): Promise<HttpResponse<Body>>;
  put<Body = unknown>(path: string, options?: Omit<RequestOptions, "path" | "method">): Promise<HttpResponse<Body>>;
  patch<Body = unknown>(path: string, options?: Omit<RequestOptions, "path" | "method">): Promise<HttpResponse<Body>>;
  delete<Body = unknown>(path: string, options?: Omit<RequestOptions, "path" | "method">): Promise<HttpResponse<Body>>;
  /** Sends one request with any method. */
  request<Body = unknown>(options: RequestOptions): Promise<HttpResponse<Body>>;
}

/** One request through a connection. Give at most one of `json`, `form`, `multipart`, `body`. */
export interface RequestOptions {
  /** Default GET. */
  method?: string;
  /** Resolved against the connection's base URL (`/v3/contacts`), or a full URL on the same origin. */
  path: string;
  /** Added to the URL's query string; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as `application/x-www-form-urlencoded` (Stripe, Twilio). */
  form?: Record<string, string | number | boolean> | URLSearchParams;
  /** Sent as `multipart/form-data` (file uploads). */
  multipart?: FormData;
  /** Raw body; set `content-type` yourself. */
  body?: string | Uint8Array;
  /**
   * The `Idempotency-Key` to send on a non-GET request. Default: derived from the step's idempotency
   * key (the same on every retry of the step). false sends none for this request.
   */
  idempotencyKey?: string | false;
  /**
   * The route `path` was built from, e.g. `/v3/objects/contacts/{contactId}`: the outbound span's `url.template`
   * and name, so that traces group requests by route rather than by id.
   */
  urlTemplate?: string;
}

export interface HttpResponse<Body = unknown> {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Parsed JSON when the response says it is JSON, otherwise the text. */
  body: Body;
  text: string;
}
