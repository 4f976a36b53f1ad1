import type { Clock } from "./clock.ts";

/**
 * The worker stopped acting for a run because its lease on it may no longer be its own (see LeaseFence).
 * Not a failure of the run: nothing is recorded for it, another attempt owns the run now or will.
 */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
}

/**
 * A worker's own view of its lease on one run, so that it acts only while the lease is certainly still
 * its own. The storage's lease token stops a stale worker from *recording* anything, but not from
 * *acting*: a worker whose heartbeat failed, or whose process stalled past its lease, would carry on into
 * a step that the run's new owner is executing at the same moment, and check-then-act or idempotency
 * keys cannot save two attempts that run at once.
 *
 * The view is "held until": the lease the last successful claim or heartbeat wrote, minus a safety margin
 * for clock skew and scheduling. It only moves forward while it is still valid; once it has lapsed it
 * stays lapsed, even if a late heartbeat answers (the run is someone else's from then on). Before a step
 * starts and before each outbound request, the engine checks it; `signal` aborts requests still in flight
 * when it lapses, so nothing this worker sent can still be running when another worker takes over.
 *
 * The other leases a worker holds use the same fence, named by `lease`: a poller's lease on its source, a
 * token refresh's claim on the refresh token, a circuit breaker's probe (docs/guarantees.md, "Other leases").
 */
export class LeaseFence {
  readonly #clock: Clock;
  readonly #lease: FencedLease;
  #heldUntil: number;
  #lapsed = false;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(clock: Clock, heldUntil: number, lease: FencedLease = runLease) {
    this.#clock = clock;
    this.#heldUntil = heldUntil;
    this.#lease = lease;
  }

  /** What the lease is on, as messages name it (`the run`, `poll source "crm"`). */
  get on(): string {
    return this.#lease.on;
  }

  /** A heartbeat confirmed the lease: it is held until `heldUntil` (margin already taken off). */
  confirm(heldUntil: number): void {
    if (this.held && heldUntil > this.#heldUntil) this.#heldUntil = heldUntil;
  }

  get held(): boolean {
    if (!this.#lapsed && this.#clock.now() >= this.#heldUntil) this.#lapse();
    return !this.#lapsed;
  }

  /** The moment (engine clock) after which this worker no longer acts for the run. */
  get heldUntil(): number {
    return this.#heldUntil;
  }

  /** Throws LeaseLostError unless the lease is still certainly held; `action` says what was about to happen. */
  assertHeld(action: () => string): void {
    if (!this.held) {
      throw new LeaseLostError(
        `the worker fenced itself before ${action()}: its lease on ${this.#lease.on} may have lapsed (${this.#lease.lapsesWhen})`,
      );
    }
  }

  /**
   * Aborts when the lease lapses. Made on first use: most runs never need it armed for long. Every read
   * checks the lease first, so a signal read after a stall is already aborted, before its timer has run.
   */
  get signal(): AbortSignal {
    const held = this.held;
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (held) this.#arm();
      else this.#controller.abort(this.#reason());
    }
    return this.#controller.signal;
  }

  /** The run's execution is over: no timer may outlive it. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = setTimeout(
      () => {
        if (this.held) this.#arm();
      },
      Math.max(1, this.#heldUntil - this.#clock.now()),
    );
    this.#timer.unref();
  }

  #lapse(): void {
    this.#lapsed = true;
    this.close();
    this.#controller?.abort(this.#reason());
  }

  #reason(): LeaseLostError {
    return new LeaseLostError(
      `the worker's lease on ${this.#lease.on} lapsed while a request was in flight; the request was aborted`,
    );
  }
}

/** A lease as the fence's messages name it. */
export interface FencedLease {
  /** What it is on: `the run`, `poll source "crm"`. */
  on: string;
  /** How it comes to lapse while its holder still works, for the message that says the holder stopped. */
  lapsesWhen: string;
}

const runLease: FencedLease = { on: "the run", lapsesWhen: "heartbeats failed or the process stalled" };
