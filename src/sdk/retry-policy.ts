import { type Duration, durationToMs } from "./duration.ts";
import { ConfigurationError } from "./errors.ts";

/** How often and how patiently a failing step (or run) is retried. */
export interface RetryPolicy {
  /** Total attempts including the first; 1 means never retry. Default 5. */
  maxAttempts?: number;
  /** Backoff ceiling before jitter for the first retry. Default 1s. */
  initialDelay?: Duration;
  /** Upper bound of any backoff delay. Default 10m. */
  maxDelay?: Duration;
}

export interface ResolvedRetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetryPolicy: ResolvedRetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 1000,
  maxDelayMs: 600_000,
};

export function resolveRetryPolicy(
  policy: RetryPolicy | undefined,
  base: ResolvedRetryPolicy = defaultRetryPolicy,
): ResolvedRetryPolicy {
  if (!policy) return base;
  const resolved = {
    maxAttempts: policy.maxAttempts ?? base.maxAttempts,
    initialDelayMs: policy.initialDelay === undefined ? base.initialDelayMs : durationToMs(policy.initialDelay),
    maxDelayMs: policy.maxDelay === undefined ? base.maxDelayMs : durationToMs(policy.maxDelay),
  };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new ConfigurationError(`retries.maxAttempts must be an integer ≥ 1, got ${policy.maxAttempts}`);
  }
  return resolved;
}

/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff
 * And Jitter"): the delay is uniform in [0, min(maxDelay, initialDelay · 2^(n-1))],
 * which spreads retries of many runs that failed together.
 * `failedAttempts` is how many attempts have failed so far (≥ 1).
 */
export function backoffDelayMs(policy: ResolvedRetryPolicy, failedAttempts: number, random: () => number): number {
  const exponent = Math.min(failedAttempts - 1, 52);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
