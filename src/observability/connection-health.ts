import type { ConnectionSummary } from "../connections/connections.ts";
import type { Storage } from "../storage/contract.ts";
import type { ExchangeOutcome } from "../storage/read-api-store.ts";
import { amber, green, hourMs, hours, iso, minutes, red, type Verdict } from "./verdict.ts";

/** A connection's exchanges looked at for its failures and recovery: its newest ones, so the queries stay bounded. */
const exchangeLookback = 500;
/**
 * This many requests failed in a row, none succeeded since, and the newest one recently: the API is failing (red).
 * Fewer are a blip (amber), unless the API asked for no request until later.
 */
const failingRequests = 3;
/** A failure this recent is the connection's state now; an older one, with nothing sent since, is only a doubt. */
const recentFailureMs = 5 * 60_000;
/** A recovery this recent is told in the green verdict ("recovered 2 min ago after 12 failed requests"). */
const recoveryToldMs = hourMs;
/** Credentials that end within this are amber (OAuth access tokens refresh themselves and are not judged). */
const expiringMs = 3 * 24 * hourMs;

/**
 * How the newest exchanges went. `failing`: the newest failed and none succeeded since; `recovered`: failures,
 * then success (from `recoveredAt`, the first success after the newest failure); `steady`: no failure in view.
 * `failures` counts the run of failures (until the success before it, or the end of the lookback: `capped`),
 * `since` is when the first of them was sent.
 */
export type ExchangeStreak =
  | { kind: "failing"; failures: number; since: number; lastFailureAt: number; capped: boolean }
  | { kind: "recovered"; failures: number; since: number; recoveredAt: number; capped: boolean }
  | { kind: "steady" };

/**
 * A failed request is one the API did not serve: no answer, a 5xx or a 408, as the circuit breaker counts them.
 * A 4xx refusal (a payload the API rejects) is the request's fault, shown on its run, not the connection's; a 429
 * is the rate limit's, judged from the limiter's state; 401/403 are the credentials', judged from the auth status.
 */
function outcomeOf(status: number | null): "failed" | "succeeded" | "neither" {
  if (status === null || status >= 500 || status === 408) return "failed";
  return status < 400 ? "succeeded" : "neither";
}

/** Reads the streak from a connection's newest exchanges, newest first, as read with this `lookback`. */
export function readExchangeStreak(outcomes: readonly ExchangeOutcome[], lookback: number): ExchangeStreak {
  let index = 0;
  let recoveredAt: number | null = null;
  for (; index < outcomes.length; index += 1) {
    const { at, status } = outcomes[index] as ExchangeOutcome;
    const outcome = outcomeOf(status);
    if (outcome === "failed") break;
    // Walking back in time: the last success seen before the failure is the first one after it.
    if (outcome === "succeeded") recoveredAt = at;
  }
  const newestFailure = outcomes[index];
  if (!newestFailure) return { kind: "steady" };
  let failures = 0;
  let since = newestFailure.at;
  for (; index < outcomes.length; index += 1) {
    const { at, status } = outcomes[index] as ExchangeOutcome;
    const outcome = outcomeOf(status);
    if (outcome === "succeeded") break;
    if (outcome === "failed") {
      failures += 1;
      since = at;
    }
  }
  // Out of exchanges before a success: more failures may precede them, unless these are all there are.
  const capped = index === outcomes.length && outcomes.length >= lookback;
  return recoveredAt === null
    ? { kind: "failing", failures, since, lastFailureAt: newestFailure.at, capped }
    : { kind: "recovered", failures, since, recoveredAt, capped };
}

/** Per configured connection: its state (auth, circuit, rate limit, credentials, last error) and a verdict. */
export async function connectionsHealth(
  storage: Storage,
  connections: { list(): Promise<ConnectionSummary[]> },
  now: number,
) {
  const summaries = await connections.list();
  return Promise.all(
    summaries.map(async (summary) => {
      const [lastError, outcomes] = await Promise.all([
        storage.readApi.lastExchangeError(summary.id, exchangeLookback),
        storage.readApi.recentExchangeOutcomes(summary.id, exchangeLookback),
      ]);
      const rateLimitedUntil = summary.rateLimit?.pausedUntil ?? null;
      const waitMs = rateLimitedUntil === null ? 0 : Math.max(0, rateLimitedUntil - now);
      const streak = readExchangeStreak(outcomes, exchangeLookback);
      return {
        id: summary.id,
        ...judgeConnection(summary, { waitMs, streak, now }),
        auth: { status: summary.status, reason: summary.statusReason, type: summary.authType },
        circuit: {
          status: summary.circuit.status,
          consecutiveFailures: summary.circuit.consecutiveFailures,
          reopenAt: iso(summary.circuit.reopenAt),
        },
        rateLimit: { waitMs, until: iso(waitMs > 0 ? rateLimitedUntil : null) },
        lastError: lastError && { ...lastError, at: iso(lastError.at) },
        /** The newest run of failed requests: still failing, or when it recovered; null when none is in view. */
        failures: streakToJson(streak),
        credentialsExpireAt: iso(summary.expiresAt),
      };
    }),
  );
}

function streakToJson(streak: ExchangeStreak) {
  if (streak.kind === "steady") return null;
  return {
    count: streak.failures,
    /** The count stopped at the lookback: at least this many. */
    capped: streak.capped,
    since: iso(streak.since),
    recoveredAt: iso(streak.kind === "recovered" ? streak.recoveredAt : null),
  };
}

/**
 * Red while the connection does not work: its credentials were rejected, its circuit is open, or its newest
 * requests all failed. Once a request succeeds after failures it is green again, and for an hour the reason
 * says it recovered and after how many failures, so an operator who saw it red knows what happened.
 */
export function judgeConnection(
  summary: ConnectionSummary,
  facts: { waitMs: number; streak: ExchangeStreak; now: number },
): Verdict {
  const { waitMs, streak, now } = facts;
  if (summary.status === "auth_failed") {
    return red(`credentials rejected: ${summary.statusReason ?? "update them"}; its runs are paused until then`);
  }
  if (summary.circuit.status === "open") {
    const failing = streak.kind === "failing" ? `, failing for ${minutes(now - streak.since)}` : "";
    const count = Math.max(summary.circuit.consecutiveFailures, streak.kind === "failing" ? streak.failures : 0);
    return red(`circuit open after ${count} failed requests in a row${failing}; runs wait and resume once it closes`);
  }
  if (streak.kind === "failing") {
    const failed = failedRequests(streak.failures, streak.capped);
    const lastAgo = now - streak.lastFailureAt;
    if (lastAgo >= recentFailureMs) return amber(`${failed}, the newest ${ago(lastAgo)}; none was sent since`);
    // An API that failed and asked for no request until later (a 503 with Retry-After: down for maintenance, an
    // outage) is down, however few requests found it out: the others wait instead of failing too.
    const held = waitMs > 0 ? `; the API asked for no request for ${Math.ceil(waitMs / 1000)} s more` : "";
    if (streak.failures >= failingRequests || summary.circuit.status === "half_open" || waitMs > 0) {
      const which =
        streak.failures === 1
          ? `the last request failed ${ago(lastAgo)}`
          : `${failed} in a row, the first ${ago(now - streak.since)},`;
      return red(`failing: ${which} and none succeeded since${held}`);
    }
    return amber(`${failed} ${ago(lastAgo)} and none succeeded since`);
  }
  if (summary.circuit.status === "half_open") return amber("circuit half-open: a probe request is testing the API");
  if (waitMs > 0) return amber(`rate limited by the API for ${Math.ceil(waitMs / 1000)} s more`);
  const expiring = summary.authType !== "oauth2" && summary.expiresAt !== null && summary.expiresAt - now < expiringMs;
  if (expiring && summary.expiresAt !== null) {
    return summary.expiresAt <= now
      ? red("its credentials have expired: store new ones")
      : amber(`its credentials expire in ${hours(summary.expiresAt - now)}: store new ones before then`);
  }
  if (streak.kind === "recovered" && now - streak.recoveredAt < recoveryToldMs) {
    return green(`recovered ${ago(now - streak.recoveredAt)} after ${failedRequests(streak.failures, streak.capped)}`);
  }
  return green("accepting requests");
}

function failedRequests(count: number, capped: boolean): string {
  if (capped) return `${count} or more failed requests`;
  return count === 1 ? "1 failed request" : `${count} failed requests`;
}

const ago = (ms: number) => `${minutes(Math.max(0, ms))} ago`;
