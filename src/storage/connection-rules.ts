import type {
  CircuitState,
  RateLimitGrant,
  RateLimitState,
  RecordCircuitFailureInput,
  TakeRateLimitTokenInput,
} from "./connection-store.ts";

/**
 * The arithmetic of the shared rate-limit bucket and circuit breaker, the same on both backends: each
 * backend reads the row under a lock, applies one of these, and writes the result in the same transaction.
 */

export interface BucketAfterTake {
  tokens: number;
  refilledAt: number;
  grant: RateLimitGrant;
}

/**
 * Token bucket with reservations (GCRA-like): a caller whose token is not there yet may still reserve it,
 * driving `tokens` below zero, and is told how long to wait for it; the next caller then queues behind it.
 * A caller that would wait longer than `maxWaitMs` takes nothing.
 */
export function takeFromBucket(bucket: RateLimitState, input: TakeRateLimitTokenInput): BucketAfterTake {
  const { now, burst } = input;
  const pauseWaitMs = Math.max(0, (bucket.pausedUntil ?? 0) - now);
  const rate = effectiveRate(bucket, input);
  // Workers' clocks differ a little: a clock behind the last writer's must not refill the same time twice.
  const refilledAt = Math.max(bucket.refilledAt, now);
  if (rate === null) {
    // No configured limit and no slow-down in force: only a pause holds requests back, and no tokens are counted.
    return { tokens: Math.min(burst, bucket.tokens), refilledAt, grant: grantAfter(pauseWaitMs, input.maxWaitMs) };
  }
  const elapsedSeconds = (refilledAt - bucket.refilledAt) / 1000;
  const tokens = Math.min(burst, bucket.tokens + elapsedSeconds * rate);
  const tokenWaitMs = tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / rate) * 1000);
  const grant = grantAfter(Math.max(pauseWaitMs, tokenWaitMs), input.maxWaitMs);
  return { tokens: grant.granted ? tokens - 1 : tokens, refilledAt, grant };
}

function effectiveRate(bucket: RateLimitState, input: TakeRateLimitTokenInput): number | null {
  const slowRate =
    bucket.slowRatePerSecond !== null && bucket.slowUntil !== null && bucket.slowUntil > input.now
      ? bucket.slowRatePerSecond
      : null;
  if (slowRate === null) return input.ratePerSecond;
  return input.ratePerSecond === null ? slowRate : Math.min(input.ratePerSecond, slowRate);
}

function grantAfter(waitMs: number, maxWaitMs: number): RateLimitGrant {
  return { granted: waitMs <= maxWaitMs, waitMs };
}

/** The circuit after one more retryable failure. */
export function circuitAfterFailure(circuit: CircuitState, input: RecordCircuitFailureInput): CircuitState {
  const consecutiveFailures = circuit.consecutiveFailures + 1;
  const open = {
    status: "open" as const,
    consecutiveFailures,
    reopenAt: input.now + input.cooldownMs,
    probeUntil: null,
  };
  // A failed probe (half-open), or a request that was already under way when the circuit opened: the cooldown starts over.
  if (circuit.status === "open") return { ...circuit, ...open };
  if (circuit.status === "half_open") return { ...circuit, ...open, openedAt: input.now };
  if (consecutiveFailures < input.threshold) return { ...circuit, consecutiveFailures };
  return { ...circuit, ...open, openedAt: input.now };
}

export function closedCircuit(connectionId: string): CircuitState {
  return { connectionId, status: "closed", consecutiveFailures: 0, openedAt: null, reopenAt: null, probeUntil: null };
}
