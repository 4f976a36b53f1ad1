/** Failed sign-ins an address may make in one window before it must wait for the next. */
export const maxFailedSignIns = 10;
export const signInWindowMs = 60_000;
/** Beyond this many addresses tracked the table starts again empty, so a flood of addresses cannot grow it. */
const maxTrackedAddresses = 10_000;

/**
 * Slows down guessing through the sign-in routes: an address that failed `maxFailedSignIns` times in a
 * window (a minute) is refused until the window ends. Per process and in memory: a token is 256 random bits,
 * so this does not keep a guesser from succeeding (nothing could, by guessing), it keeps one from
 * costing a storage lookup per try at full speed.
 */
export class SignInLimiter {
  readonly #now: () => number;
  readonly #failures = new Map<string, { count: number; windowEnds: number }>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Seconds until this address may try again; 0 when it may now. */
  waitSeconds(address: string): number {
    const entry = this.#failures.get(address);
    const now = this.#now();
    if (!entry || entry.windowEnds <= now || entry.count < maxFailedSignIns) return 0;
    return Math.ceil((entry.windowEnds - now) / 1000);
  }

  recordFailure(address: string): void {
    const now = this.#now();
    const entry = this.#failures.get(address);
    if (entry && entry.windowEnds > now) {
      entry.count += 1;
      return;
    }
    if (this.#failures.size >= maxTrackedAddresses) this.#failures.clear();
    this.#failures.set(address, { count: 1, windowEnds: now + signInWindowMs });
  }
}
