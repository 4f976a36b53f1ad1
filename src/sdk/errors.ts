/**
 * Errors an integration author throws (or that Tenon raises) to say how a
 * failure should be handled. Every message says what happened and what to do.
 */

/** What an API answered, attached to the error its answer caused (headers and body already redacted). */
export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text, truncated. */
  body: string;
}

/** A failure worth retrying: the run is rescheduled with backoff, or at `retryAfter` if given. */
export class RetryableError extends Error {
  override readonly name = "RetryableError";
  /** Milliseconds to wait before the next attempt, overriding the backoff (e.g. from `Retry-After`). */
  readonly retryAfterMs: number | undefined;
  /** The API's answer, when an HTTP response caused it (a 5xx, a 408). */
  readonly response: ErrorResponse | undefined;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown; response?: ErrorResponse } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
    this.response = options.response;
  }
}

/** A failure that no retry can fix (bad data, a 400 from an API): the run ends as `failed`. */
export class NonRetryableError extends Error {
  override readonly name = "NonRetryableError";
  /** The API's answer, when an HTTP response caused it (a 4xx). */
  readonly response: ErrorResponse | undefined;

  constructor(message: string, options: { cause?: unknown; response?: ErrorResponse } = {}) {
    super(message, { cause: options.cause });
    this.response = options.response;
  }
}

/**
 * The connection is rate limited (its shared bucket is empty, or the API answered 429 or announced
 * an exhausted quota): the run waits until `retryAt` and no attempt is used.
 */
export class RateLimitedError extends Error {
  override readonly name = "RateLimitedError";

  constructor(
    readonly connectionId: string,
    /** Epoch ms when a request may be sent again. */
    readonly retryAt: number,
    message = `connection "${connectionId}" is rate limited until ${new Date(retryAt).toISOString()}; the run waits and uses no attempt`,
  ) {
    super(message);
  }
}

/** The connection's circuit is open after repeated failures: the run waits until `reopenAt` and no attempt is used. */
export class CircuitOpenError extends Error {
  override readonly name = "CircuitOpenError";

  constructor(
    readonly connectionId: string,
    /** Epoch ms when a probe request may test the API again. */
    readonly reopenAt: number,
    message = `connection "${connectionId}" is failing: its circuit is open until ${new Date(reopenAt).toISOString()}; the run waits and uses no attempt`,
  ) {
    super(message);
  }
}

/**
 * The connection's credentials were rejected (the refresh token was revoked, or a 401/403 survived a
 * refresh): the connection is `auth_failed` and runs that need it are paused until its credentials
 * are updated (`tenon connections set-credentials`, the API, or a new OAuth authorisation).
 */
export class AuthError extends Error {
  override readonly name = "AuthError";

  constructor(
    readonly connectionId: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A credential the config reads from the environment is not set in this process. Not the run's fault,
 * and not the connection's: other workers may have the variable, so nothing shared is marked failed; the
 * run waits until `retryAt` (on any worker) and no attempt is used. `tenon start` refuses to start without
 * the variables, so this is met only where the config was loaded without that check.
 */
export class MissingCredentialError extends Error {
  override readonly name = "MissingCredentialError";

  constructor(
    readonly connectionId: string,
    /** Epoch ms when the run tries again. */
    readonly retryAt: number,
    message: string,
  ) {
    super(message);
  }
}

/** Input rejected before anything was stored; the caller must fix it and send again. */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
}

/** A definition (integration, schedule, step options) that cannot work as written. */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/** Turns anything thrown (a string, an object, undefined) into an Error with a readable message. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let described: string;
  try {
    described = typeof thrown === "string" ? thrown : (JSON.stringify(thrown) ?? String(thrown));
  } catch {
    described = String(thrown);
  }
  return new Error(`a non-Error value was thrown: ${described}`);
}
