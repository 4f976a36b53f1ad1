import { type Duration, durationToMs } from "./duration.ts";
import { ConfigurationError } from "./errors.ts";

/**
 * How often and how patiently a failing step (or run) is retried: exponential backoff with full jitter
 * (`maxAttempts`, `initialDelay`, `maxDelay`), or a fixed `schedule` of delays.
 */
export interface RetryPolicy {
  /** Total attempts including the first; 1 means never retry. Default 5. */
  maxAttempts?: number;
  /** Backoff ceiling before jitter for the first retry. Default 1s. */
  initialDelay?: Duration;
  /** Upper bound of any backoff delay. Default 10m. */
  maxDelay?: Duration;
  /**
   * The delay before each retry, in order, taken as given (no jitter): `["5s", "5m", "30m"]` is four attempts,
   * the last 5 min 5 s after the first failed one. For a published schedule such as Standard Webhooks'; it
   * replaces the three options above, which cannot be given with it.
   */
  schedule?: Duration[];
}

export interface ResolvedRetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** The fixed delays before each retry; null for exponential backoff. */
  scheduleMs: readonly number[] | null;
}

export const defaultRetryPolicy: ResolvedRetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 1000,
  maxDelayMs: 600_000,
  scheduleMs: null,
};

export function resolveRetryPolicy(
  policy: RetryPolicy | undefined,
  base: ResolvedRetryPolicy = defaultRetryPolicy,
): ResolvedRetryPolicy {
  if (!policy) return base;
  if (policy.schedule !== undefined) return resolveSchedule(policy);
  const exponentialBase = base.scheduleMs === null ? base : defaultRetryPolicy;
  if (policy.maxAttempts === undefined && policy.initialDelay === undefined && policy.maxDelay === undefined) {
    return base;
  }
  const resolved = {
    maxAttempts: policy.maxAttempts ?? exponentialBase.maxAttempts,
    initialDelayMs:
      policy.initialDelay === undefined ? exponentialBase.initialDelayMs : durationToMs(policy.initialDelay),
    maxDelayMs: policy.maxDelay === undefined ? exponentialBase.maxDelayMs : durationToMs(policy.maxDelay),
    scheduleMs: null,
  };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new ConfigurationError(`retries.maxAttempts must be an integer ≥ 1, got ${policy.maxAttempts}`);
  }
  return resolved;
}

function resolveSchedule(policy: RetryPolicy): ResolvedRetryPolicy {
  const { schedule } = policy;
  const mixed = (["maxAttempts", "initialDelay", "maxDelay"] as const).filter((key) => policy[key] !== undefined);
  if (mixed.length > 0) {
    throw new ConfigurationError(
      `retries.schedule sets every retry's delay and the number of attempts (one more than its delays): drop ${mixed.join(", ")}`,
    );
  }
  if (!Array.isArray(schedule)) {
    throw new ConfigurationError('retries.schedule must be an array of durations, e.g. ["5s", "5m", "30m"]');
  }
  const scheduleMs = schedule.map((delay, index) => {
    try {
      return durationToMs(delay);
    } catch (error) {
      throw new ConfigurationError(`retries.schedule[${index}]: ${(error as Error).message}`, { cause: error });
    }
  });
  // An empty schedule is one attempt: never retry.
  return { maxAttempts: scheduleMs.length + 1, initialDelayMs: 0, maxDelayMs: 0, scheduleMs };
}

/**
 * The delay before the next attempt. With a schedule, its entry for this retry. Otherwise exponential backoff
 * with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the delay is uniform in
 * [0, min(maxDelay, initialDelay · 2^(n-1))], which spreads retries of many runs that failed together.
 * `failedAttempts` is how many attempts have failed so far (≥ 1).
 */
export function backoffDelayMs(policy: ResolvedRetryPolicy, failedAttempts: number, random: () => number): number {
  if (policy.scheduleMs !== null) {
    return policy.scheduleMs[Math.min(failedAttempts, policy.scheduleMs.length) - 1] ?? 0;
  }
  const exponent = Math.min(failedAttempts - 1, 52);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
