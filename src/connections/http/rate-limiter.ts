import type { Clock } from "../../runtime/clock.ts";
import { RateLimitedError } from "../../sdk/errors.ts";
import type { ConnectionStore, RateLimitState } from "../../storage/connection-store.ts";
import type { RateLimitAdvice } from "./rate-limit-headers.ts";
import type { RateLimitPolicy } from "./rate-limit-policy.ts";

/** How long an unlimited connection trusts that no pause or slow-down is in force before asking storage again. */
const trustUnthrottledMs = 1000;

/**
 * A connection's rate limit, shared by every worker through a token bucket in storage. A request
 * whose token comes within `maxInlineWaitMs` waits for it here; a longer wait is not spent holding a
 * worker: the request throws RateLimitedError and the run is rescheduled for when its turn comes.
 */
export class RateLimiter {
  #state: RateLimitState | null = null;
  #stateAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly connectionId: string,
    private readonly store: ConnectionStore,
    private readonly clock: Clock,
    private readonly policy: RateLimitPolicy | null,
    private readonly maxInlineWaitMs: number,
    /** The request waits (here, or by rescheduling its run): metrics count it. */
    private readonly onWait: () => void = () => {},
  ) {}

  /**
   * Takes a token, waiting for it here if it comes soon, or throws RateLimitedError. Undefined (nothing to await) for
   * an unlimited connection known to be neither paused nor slowed: the usual request's case.
   */
  acquire(): Promise<void> | undefined {
    const now = this.clock.now();
    if (!this.policy && now - this.#stateAt < trustUnthrottledMs && !this.#inForce(now)) return undefined;
    return this.#acquire(now);
  }

  async #acquire(now: number): Promise<void> {
    if (!this.policy && !(await this.#throttled(now))) return;
    const grant = await this.store.takeRateLimitToken({
      connectionId: this.connectionId,
      ratePerSecond: this.policy?.ratePerSecond ?? null,
      burst: this.policy?.burst ?? 1,
      now,
      maxWaitMs: this.maxInlineWaitMs,
    });
    if (!grant.granted) {
      this.onWait();
      throw new RateLimitedError(this.connectionId, now + grant.waitMs);
    }
    // The reservation is for a point in time: the storage round trip already spent part of the wait.
    const delay = now + grant.waitMs - this.clock.now();
    if (delay <= 0) return;
    this.onWait();
    await new Promise((resolve) => setTimeout(resolve, delay));
  }

  /** Shares what the API said about its limits with every worker. */
  async advise(advice: RateLimitAdvice): Promise<void> {
    const now = this.clock.now();
    const slower =
      advice.slowRatePerSecond !== undefined && advice.slowRatePerSecond < (this.policy?.ratePerSecond ?? Infinity);
    if (advice.pausedUntil === undefined && !slower) return;
    await this.store.recordRateLimitSignal({
      connectionId: this.connectionId,
      now,
      ...(advice.pausedUntil !== undefined ? { pausedUntil: advice.pausedUntil } : {}),
      ...(slower ? { slowRatePerSecond: advice.slowRatePerSecond, slowUntil: advice.slowUntil } : {}),
    });
    this.#stateAt = Number.NEGATIVE_INFINITY;
  }

  /** An unlimited connection goes through the bucket only while a 429 pause or an announced slow-down lasts. */
  async #throttled(now: number): Promise<boolean> {
    if (now - this.#stateAt >= trustUnthrottledMs) {
      this.#state = await this.store.getRateLimitState(this.connectionId);
      this.#stateAt = now;
    }
    return this.#inForce(now);
  }

  /** Whether the state last read holds a 429 pause or an announced slow-down that lasts at `now`. */
  #inForce(now: number): boolean {
    const state = this.#state;
    if (!state) return false;
    return (state.pausedUntil ?? 0) > now || (state.slowUntil ?? 0) > now;
  }
}
