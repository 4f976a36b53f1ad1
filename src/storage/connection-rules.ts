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

/** Far above the floating-point error of a bucket's arithmetic, far below a millisecond. */
const floatSlackMs = 1e-6;

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
  // The token is due `(1 - tokens) / rate` after `refilledAt`, which is later than `now` when the caller's time was
  // read before another caller's take committed (both waited for the row's lock): the wait counts from `now`.
  // Refills add fractions of a token, so a wait that is a whole number of ms can come out a hair above it; rounded up
  // to the next ms, that reservation would be 1 ms late and the next one, which does not inherit the error, 1 ms
  // too close to it: windows of the limit's length would then hold one request more than it allows.
  const tokenWaitMs =
    tokens >= 1 ? 0 : Math.max(0, Math.ceil(refilledAt - now + ((1 - tokens) / rate) * 1000 - floatSlackMs));
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

/**
 * The circuit after one more retryable failure. `currentProbeId` is the id the storage holds for the circuit's
 * probe (meaningful while half-open).
 */
export function circuitAfterFailure(
  circuit: CircuitState,
  currentProbeId: string | null,
  input: RecordCircuitFailureInput,
): CircuitState {
  const consecutiveFailures = circuit.consecutiveFailures + 1;
  const open = {
    status: "open" as const,
    consecutiveFailures,
    reopenAt: input.now + input.cooldownMs,
    probeUntil: null,
  };
  if (input.probeId !== undefined) {
    // A failed probe reopens the circuit; a stale one (its lease lapsed, another may be probing) changes nothing.
    if (!isCurrentProbe(circuit, currentProbeId, input.probeId)) return circuit;
    return { ...circuit, ...open, openedAt: input.now };
  }
  // A request that was already under way when the circuit opened: while open, the cooldown starts over;
  // while a probe tests the API, it is counted, but the probe decides.
  if (circuit.status === "open") return { ...circuit, ...open };
  if (circuit.status === "half_open") return { ...circuit, consecutiveFailures };
  if (consecutiveFailures < input.threshold) return { ...circuit, consecutiveFailures };
  return { ...circuit, ...open, openedAt: input.now };
}

/**
 * Whether a success changes the circuit: it is not healthy already, and a probe's success (`probeId`) counts
 * only while that probe is the current one. A stale probe's success must not close a circuit that a newer
 * probe has reopened (every waiting run would then rush at a failing API), nor end that probe's test early.
 */
export function successChangesCircuit(
  circuit: CircuitState,
  currentProbeId: string | null,
  probeId: string | undefined,
): boolean {
  if (circuit.status === "closed" && circuit.consecutiveFailures === 0) return false;
  return probeId === undefined || isCurrentProbe(circuit, currentProbeId, probeId);
}

/** Whether the probe `probeId` is the one the circuit is waiting for: it is half-open, under that probe's claim. */
function isCurrentProbe(circuit: CircuitState, currentProbeId: string | null, probeId: string): boolean {
  return circuit.status === "half_open" && currentProbeId === probeId;
}

export function closedCircuit(connectionId: string): CircuitState {
  return { connectionId, status: "closed", consecutiveFailures: 0, openedAt: null, reopenAt: null, probeUntil: null };
}
