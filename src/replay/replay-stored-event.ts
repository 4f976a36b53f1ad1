import type { Engine, RequalifyResult } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { readQuarantinedEvent } from "./read-quarantined-event.ts";

/** What replaying one stored event did. */
export type StoredEventReplay =
  /** It was quarantined: judged again under the current config. */
  | ({ quarantined: true } & RequalifyResult)
  /** It was accepted or unmatched: fresh runs for the integrations it matches now (none: it matches none). */
  | { quarantined: false; runIds: string[] };

/**
 * Replays one stored event, as `tenon replay-event <id>` and `POST /api/events/:id/replay` both do: a
 * quarantined event is judged again (its body parsed again when it could not be before), and only while it is
 * still quarantined, so two replays never both start its runs; any other event starts fresh runs, one per
 * integration it matches now. Throws a ValidationError when the event does not exist.
 */
export async function replayStoredEvent(
  engine: Engine,
  sources: ReadonlyMap<string, WebhookSource>,
  eventId: string,
): Promise<StoredEventReplay> {
  const event = await engine.storage.getEvent(eventId);
  if (event?.status === "quarantined") {
    return { quarantined: true, ...(await engine.requalifyEvent(eventId, readQuarantinedEvent(event, sources))) };
  }
  return { quarantined: false, runIds: await engine.replayEvent(eventId) };
}
