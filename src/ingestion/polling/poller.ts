import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../../runtime/clock.ts";
import { LeaseFence } from "../../runtime/lease-fence.ts";
import { actUnderLease } from "../../runtime/lease-scope.ts";
import type { ConnectionClient } from "../../sdk/connection-client.ts";
import type { Poll, PollPage } from "../../sdk/define-poll.ts";
import { RetryableError, toError } from "../../sdk/errors.ts";
import type { AcceptResult, NewEvent, Storage } from "../../storage/contract.ts";

export interface PollerDeps {
  storage: Storage;
  clock: Clock;
  logger: Logger;
  /** Builds the stored event (with its runs) for one polled item; throws a ValidationError for an unusable one. */
  toNewEvent: (input: { source: string; type: string; dedupKey: string; payload: unknown }) => NewEvent;
  /** New runs were committed: wake the worker. */
  onRunsStored: () => void;
  /** A page's events were committed (or found to be duplicates), `results` in the order of `events`: metrics count them. */
  onPageStored?: (events: NewEvent[], results: AcceptResult[]) => void;
  /** A configured connection's client, for fetches that call an API through Tenon's client. */
  connection: (name: string) => ConnectionClient;
}

export interface PollerOptions {
  /**
   * How long a poller holds a source without finishing a page before another worker may take over. Default 60 s.
   * A page's fetch must end within three quarters of it: the poller aborts it then (see #fetchPage).
   */
  leaseMs?: number;
  /** Longest wait between checks whether a source is due (another worker may be polling it). Default 1 s. */
  checkIntervalMs?: number;
}

/**
 * Runs every poll source of this process. Each source is leased in storage
 * before it is fetched, so across all workers one poller at a time owns it;
 * each page's events and the cursor after it commit together, only while the
 * lease is still this poller's. A fetch acts only while the poller's own view
 * of the lease holds (the lease its claim or last commit wrote, minus a margin):
 * then its requests are aborted, so a poller that lost its source stops calling
 * the API before another one may start.
 */
export class Poller {
  readonly #polls: Poll[];
  readonly #deps: PollerDeps;
  readonly #leaseMs: number;
  readonly #fenceMarginMs: number;
  readonly #checkIntervalMs: number;
  readonly #owner = randomUUID();
  readonly #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #wakers = new Set<() => void>();

  constructor(polls: Poll[], deps: PollerDeps, options: PollerOptions = {}) {
    this.#polls = polls;
    this.#deps = deps;
    this.#leaseMs = options.leaseMs ?? 60_000;
    // The run lease's margin (worker.ts): room for clock skew between workers and a late timer.
    this.#fenceMarginMs = Math.floor(this.#leaseMs / 4);
    this.#checkIntervalMs = options.checkIntervalMs ?? 1000;
  }

  start(): void {
    this.#loops = this.#polls.map((poll) => this.#loop(poll));
  }

  /** Checks every source now (a backfill was requested, or a test moved the clock). */
  wake(): void {
    for (const wake of this.#wakers) wake();
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error("the worker is shutting down"));
    this.wake();
    await Promise.all(this.#loops);
  }

  async #loop(poll: Poll): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        await this.#pollIfDue(poll);
      } catch (error) {
        // Storage itself failed (claim or commit): nothing moved; try again at the next check.
        this.#deps.logger.error({ poll: poll.id, err: toError(error).message }, "poll bookkeeping failed");
      }
      await this.#sleep(Math.min(poll.everyMs, this.#checkIntervalMs));
    }
  }

  async #pollIfDue(poll: Poll): Promise<void> {
    const { storage, clock } = this.#deps;
    const now = clock.now();
    let leaseUntil = now + this.#leaseMs;
    const claim = await storage.claimPoll({ pollId: poll.id, owner: this.#owner, now, leaseUntil });
    if (!claim) return;
    let cursor = claim.cursor;
    while (!this.#abort.signal.aborted) {
      let page: PollPage<unknown>;
      let events: NewEvent[];
      try {
        page = await this.#fetchPage(poll, cursor, leaseUntil);
        checkPage(poll, page);
        events = page.items.map((item) => this.#toEvent(poll, item));
      } catch (thrown) {
        // Shutting down: not the source's fault. The lease lapses and another worker (or our restart) resumes.
        if (this.#abort.signal.aborted) return;
        // Recorded only if the lease is still ours (failPoll checks it): a lapsed fetch that nobody took over
        // is this source's failure, shown with its cause, and backs off like any other.
        await this.#recordFailure(poll, claim.consecutiveFailures + 1, toError(thrown));
        return;
      }
      const more = page.hasMore === true && page.nextCursor !== cursor;
      const committedAt = clock.now();
      let results: AcceptResult[] | null;
      try {
        results = await storage.commitPoll({
          pollId: poll.id,
          owner: this.#owner,
          now: committedAt,
          cursor: page.nextCursor,
          events,
          nextPollAt: more ? committedAt : committedAt + poll.everyMs,
          keepLease: more,
          leaseUntil: committedAt + this.#leaseMs,
        });
      } catch (thrown) {
        // Nothing of the page was stored; record it so the lease is released and the source shows the error.
        await this.#recordFailure(poll, claim.consecutiveFailures + 1, toError(thrown));
        return;
      }
      if (results === null) {
        this.#deps.logger.warn(
          { poll: poll.id },
          "lost the poll lease (taken over or reset by a backfill); page discarded",
        );
        return;
      }
      claim.consecutiveFailures = 0;
      this.#deps.onPageStored?.(events, results);
      if (results.some((r) => !r.duplicate && r.runIds.length > 0)) this.#deps.onRunsStored();
      if (!more) return;
      cursor = page.nextCursor;
      leaseUntil = committedAt + this.#leaseMs;
    }
  }

  /**
   * Fetches one page under a fence on the lease, which holds until `leaseUntil` (what the claim or the last
   * commit wrote) minus the margin: the fetch's signal aborts then, and requests through a connection are
   * refused or aborted. The commit that follows is conditional on the lease anyway; the fence is what stops
   * a poller that lost its source (stalled, or a slow API) from still calling the API while another polls it.
   */
  async #fetchPage(poll: Poll, cursor: string | null, leaseUntil: number): Promise<PollPage<unknown>> {
    const fence = new LeaseFence(this.#deps.clock, leaseUntil - this.#fenceMarginMs, {
      on: `poll source "${poll.id}"`,
      lapsesWhen: `the page took longer than ${this.#leaseMs - this.#fenceMarginMs} ms, 3/4 of poller.leaseMs: make pages smaller or raise it; or the process stalled`,
    });
    try {
      fence.assertHeld(() => "fetching a page");
      const signal = AbortSignal.any([this.#abort.signal, fence.signal]);
      return await actUnderLease(fence, () => poll.fetch({ cursor, signal, connection: this.#deps.connection }));
    } catch (thrown) {
      if (!fence.held && !this.#abort.signal.aborted) {
        // Whatever the fetch threw once its lease lapsed (an abort, a refused request), the lapse is the cause.
        fence.assertHeld(() => "finishing the page");
      }
      throw thrown;
    } finally {
      fence.close();
    }
  }

  /** The cursor stays where it was; the next poll waits for the backoff (or the source's Retry-After). */
  async #recordFailure(poll: Poll, failures: number, error: Error): Promise<void> {
    const now = this.#deps.clock.now();
    const delay =
      error instanceof RetryableError && error.retryAfterMs !== undefined
        ? error.retryAfterMs
        : Math.min(poll.maxBackoffMs, poll.everyMs * 2 ** (failures - 1));
    this.#deps.logger.warn({ poll: poll.id, failures, retryInMs: delay, err: error.message }, "poll failed");
    await this.#deps.storage.failPoll({
      pollId: poll.id,
      owner: this.#owner,
      now,
      error: error.message,
      nextPollAt: now + delay,
    });
  }

  #toEvent(poll: Poll, item: unknown): NewEvent {
    const dedupKey = poll.itemId(item);
    const type = typeof poll.eventType === "function" ? poll.eventType(item) : poll.eventType;
    return this.#deps.toNewEvent({ source: poll.id, type, dedupKey, payload: item });
  }

  #sleep(ms: number): Promise<void> {
    if (this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }
}

/** A page the poller cannot store is a failed poll with a message saying what to fix, not a crash. */
function checkPage(poll: Poll, page: unknown): asserts page is PollPage<unknown> {
  const where = `poll "${poll.id}": fetch`;
  if (typeof page !== "object" || page === null) throw new Error(`${where} must return { items, nextCursor }`);
  const { items, nextCursor } = page as Partial<PollPage<unknown>>;
  if (!Array.isArray(items)) throw new Error(`${where} returned no items array`);
  if (nextCursor !== null && typeof nextCursor !== "string") {
    throw new Error(`${where} returned nextCursor ${JSON.stringify(nextCursor)}; it must be a string or null`);
  }
  for (const item of items) {
    const id = poll.itemId(item);
    if (typeof id !== "string" || id.length === 0 || id.length > 500) {
      throw new Error(
        `${where}: itemId gave ${JSON.stringify(id)} for an item; it must be a string of 1-500 characters`,
      );
    }
  }
}
