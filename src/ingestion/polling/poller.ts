import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { ConnectionClient } from "../../connections/http/connection-client.ts";
import type { Clock } from "../../engine/clock.ts";
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
  /** A configured connection's client, for fetches that call an API through Tenon's client. */
  connection: (name: string) => ConnectionClient;
}

export interface PollerOptions {
  /** How long a poller holds a source without finishing a page before another worker may take over. Default 60 s. */
  leaseMs?: number;
  /** Longest wait between checks whether a source is due (another worker may be polling it). Default 1 s. */
  checkIntervalMs?: number;
}

/**
 * Runs every poll source of this process. Each source is leased in storage
 * before it is fetched, so across all workers one poller at a time owns it;
 * each page's events and the cursor after it commit together.
 */
export class Poller {
  readonly #polls: Poll[];
  readonly #deps: PollerDeps;
  readonly #leaseMs: number;
  readonly #checkIntervalMs: number;
  readonly #owner = randomUUID();
  readonly #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #wakers = new Set<() => void>();

  constructor(polls: Poll[], deps: PollerDeps, options: PollerOptions = {}) {
    this.#polls = polls;
    this.#deps = deps;
    this.#leaseMs = options.leaseMs ?? 60_000;
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
    const claim = await storage.claimPoll({
      pollId: poll.id,
      owner: this.#owner,
      now,
      leaseUntil: now + this.#leaseMs,
    });
    if (!claim) return;
    let cursor = claim.cursor;
    while (!this.#abort.signal.aborted) {
      let page: PollPage<unknown>;
      let events: NewEvent[];
      try {
        page = await poll.fetch({ cursor, signal: this.#abort.signal, connection: this.#deps.connection });
        checkPage(poll, page);
        events = page.items.map((item) => this.#toEvent(poll, item));
      } catch (thrown) {
        // Shutting down: not the source's fault. The lease lapses and another worker (or our restart) resumes.
        if (this.#abort.signal.aborted) return;
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
      if (results.some((r) => !r.duplicate && r.runIds.length > 0)) this.#deps.onRunsStored();
      if (!more) return;
      cursor = page.nextCursor;
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
