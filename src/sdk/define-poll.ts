import type { ConnectionClient } from "./connection-client.ts";
import { type Duration, durationToMs } from "./duration.ts";
import { ConfigurationError } from "./errors.ts";

/** One page of a poll: the items found after `cursor`, and where the next poll starts. */
export interface PollPage<Item> {
  items: Item[];
  /** Saved in the same transaction as the events made from `items`: the next poll (in any worker) resumes here. */
  nextCursor: string | null;
  /** true: more pages wait behind `nextCursor`; the poller fetches them at once instead of waiting `every`. */
  hasMore?: boolean;
}

export interface PollContext {
  /** Where the previous page ended; null on the very first poll (or after a backfill from the start). */
  cursor: string | null;
  /**
   * Aborted when the worker shuts down, or when this poller's lease on the source is about to lapse (the page
   * took too long, or the process stalled) so that another worker may poll it: pass it to HTTP calls. Requests
   * through `connection()` need not: they are stopped with the lease anyway.
   */
  signal: AbortSignal;
  /** The client of a configured connection (auth, rate limit, circuit breaker, audit), as runs get it. */
  connection(name: string): ConnectionClient;
}

export interface PollDefinition<Item> {
  /** Also the source of the events it makes: trigger integrations with `{ event, source: id }`. */
  id: string;
  /** How long to wait between polls once caught up. */
  every: Duration;
  /** The event type of each item. */
  eventType: string | ((item: Item) => string);
  /**
   * The item's identity for deduplication: an item seen twice (overlapping pages, a backfill) makes one
   * event. For records that change, include their version (`${id}:${updatedAt}`) so each change is an event.
   */
  itemId: (item: Item) => string;
  fetch: (context: PollContext) => Promise<PollPage<Item>>;
  /** Longest backoff of a failing poll. Default 15m. */
  maxBackoff?: Duration;
}

export interface Poll<Item = unknown> {
  readonly id: string;
  readonly everyMs: number;
  readonly maxBackoffMs: number;
  readonly eventType: string | ((item: Item) => string);
  readonly itemId: (item: Item) => string;
  readonly fetch: (context: PollContext) => Promise<PollPage<Item>>;
}

const idPattern = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/**
 * Declares a poll source, for systems without webhooks: Tenon calls `fetch(cursor)` every `every`, turns
 * each item into an event and saves the new cursor with those events in one transaction, so a crash
 * between pages neither loses nor repeats an item. One worker polls a source at a time.
 */
export function definePoll<Item>(definition: PollDefinition<Item>): Poll<Item> {
  const where = `poll "${definition.id}"`;
  if (!idPattern.test(definition.id ?? "")) {
    throw new ConfigurationError(
      `poll id "${definition.id}" must be 1-100 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  if (typeof definition.fetch !== "function") throw new ConfigurationError(`${where}: fetch must be a function`);
  if (typeof definition.itemId !== "function") throw new ConfigurationError(`${where}: itemId must be a function`);
  const type = definition.eventType;
  if (!(typeof type === "function" || (typeof type === "string" && type.length > 0))) {
    throw new ConfigurationError(`${where}: eventType must be a non-empty string or a function of the item`);
  }
  const everyMs = durationToMs(definition.every);
  if (everyMs < 10) throw new ConfigurationError(`${where}: every must be at least 10ms`);
  const maxBackoffMs = Math.max(everyMs, durationToMs(definition.maxBackoff ?? "15m"));
  return Object.freeze({
    id: definition.id,
    everyMs,
    maxBackoffMs,
    eventType: type,
    itemId: definition.itemId,
    fetch: definition.fetch,
  });
}
