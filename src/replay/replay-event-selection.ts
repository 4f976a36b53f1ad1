import type { Engine } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import type { EventRecord, EventSelection } from "../storage/contract.ts";
import { readQuarantinedEvent } from "./read-quarantined-event.ts";
import { ReplayTally } from "./replay-tally.ts";

/** Where a page of events ends: the next page starts after it. */
export interface EventCursor {
  receivedAt: number;
  id: string;
}

export interface EventSelectionReplay {
  /** Aborted: stop after the event in flight. */
  signal?: AbortSignal;
  /** Resume after this cursor (a job that was interrupted), adding to this tally; default: from the start, at 0. */
  after?: EventCursor | null;
  tally?: ReplayTally;
  /** Called after each page, with where the next one starts; awaited before the next page is read. */
  onPage?: (tally: ReplayTally, cursor: EventCursor) => void | Promise<void>;
}

const pageSize = 100;

/**
 * Judges every event of a selection (quarantined or unmatched ones) again under the current config, oldest
 * first, a page at a time: `tenon replay-event --status quarantined …` and `POST /api/events/replay` (a bulk
 * action) both work through this. The selection ends when the replay started (`receivedBefore`), so events that
 * arrive meanwhile are left alone. Each event leaves its status in one conditional transaction (see
 * Engine.requalifyEvent): a second replay, or a resumed one, never starts its runs twice. Events that keep
 * their status are passed by the keyset cursor, not read again.
 */
export async function replayEventSelection(
  engine: Engine,
  sources: ReadonlyMap<string, WebhookSource>,
  selection: EventSelection,
  options: EventSelectionReplay = {},
): Promise<ReplayTally> {
  const tally = options.tally ?? new ReplayTally();
  let after = options.after ?? null;
  while (!options.signal?.aborted) {
    const page: EventRecord[] = await engine.storage.listEventsToReplay(selection, after, pageSize);
    const last = page.at(-1);
    if (!last) break;
    let cursor: EventCursor | null = null;
    for (const event of page) {
      if (options.signal?.aborted) break;
      await replayOne(engine, sources, event, tally);
      cursor = { receivedAt: event.receivedAt, id: event.id };
    }
    if (!cursor) break;
    after = cursor;
    await options.onPage?.(tally, cursor);
  }
  return tally;
}

async function replayOne(
  engine: Engine,
  sources: ReadonlyMap<string, WebhookSource>,
  event: EventRecord,
  tally: ReplayTally,
): Promise<void> {
  const from = event.status;
  try {
    const result = await engine.requalifyEvent(event.id, readQuarantinedEvent(event, sources));
    if (result.status === "accepted") tally.replayed += 1;
    else if (result.status === "unmatched") {
      tally.count(
        from === "unmatched" ? "still unmatched" : "unmatched",
        "no integration in the config listens to them",
      );
    } else if (result.status === "quarantined") {
      tally.count(from === "quarantined" ? "still quarantined" : "quarantined", result.reason);
    } else tally.skip(result.reason);
  } catch (error) {
    tally.fail((error as Error).message);
  }
}
