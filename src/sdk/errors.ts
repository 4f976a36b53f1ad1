/**
 * Errors an integration author throws (or that Tenon raises) to say how a
 * failure should be handled. Every message says what happened and what to do.
 */

/** A failure worth retrying: the run is rescheduled with backoff, or at `retryAfter` if given. */
export class RetryableError extends Error {
  override readonly name = "RetryableError";
  /** Milliseconds to wait before the next attempt, overriding the backoff (e.g. from `Retry-After`). */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A failure that no retry can fix (bad data, a 400 from an API): the run ends as `failed`. */
export class NonRetryableError extends Error {
  override readonly name = "NonRetryableError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
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
