import type { EventStatus, NewRun, Requalification } from "../contract.ts";
import { inBothDialects, lockedOnPostgres, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { type EventRuns, enqueueRunsOnPostgres, enqueueRunsOnSqlite } from "./enqueue-runs.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * (new) → queued | blocked for a quarantined or unmatched event judged again under the current config (an event
 * replay): with runs it becomes accepted and they are enqueued (enqueue-runs.ts); with none, unmatched; otherwise
 * it is quarantined with the new reason. Only while it is still in the status it was read in.
 */
/** The row lock makes two replays of one event take turns: the second finds it accepted and does nothing. */
export const eventInStatus = lockedOnPostgres("SELECT id FROM events WHERE id = ? AND status = ?", "FOR UPDATE");
/** Its type and payload change only when its body is parsed now (NULL keeps them). */
export const requalifyEvent = inBothDialects(
  "UPDATE events SET status = ?, error = NULL, type = COALESCE(?, type), payload = COALESCE(?, payload) WHERE id = ?",
);
export const requarantineEvent = inBothDialects("UPDATE events SET status = 'quarantined', error = ? WHERE id = ?");

type From = Exclude<EventStatus, "accepted">;

function requalifyValues(eventId: string, outcome: Extract<Requalification, { runs: NewRun[] }>): unknown[] {
  const status = outcome.runs.length > 0 ? "accepted" : "unmatched";
  return [status, outcome.parsed?.type ?? null, outcome.parsed?.payloadJson ?? null, eventId];
}

export function requalifyEventOnSqlite(
  s: SqliteStatements<"eventInStatus" | "requalifyEvent" | "requarantineEvent" | "takeConcurrencySlot" | "insertRun">,
  tags: { insertRunTags(eventId: string, runs: NewRun[], now: number): void },
  eventId: string,
  outcome: Requalification,
  now: number,
  from: From,
): boolean {
  if (!s.eventInStatus.get(eventId, from)) return false;
  if ("quarantineReason" in outcome) {
    s.requarantineEvent.run(outcome.quarantineReason, eventId);
  } else {
    enqueueRunsOnSqlite(s, tags, eventId, outcome.runs, now);
    s.requalifyEvent.run(...requalifyValues(eventId, outcome));
  }
  return true;
}

export async function requalifyEventOnPostgres(
  client: PostgresClient,
  tags: { insertRunTags(client: PostgresClient, events: EventRuns[]): Promise<void> },
  eventId: string,
  outcome: Requalification,
  now: number,
  from: From,
): Promise<boolean> {
  const { rowCount } = await client.query(eventInStatus.postgres, [eventId, from]);
  if (rowCount !== 1) return false;
  if ("quarantineReason" in outcome) {
    await client.query(requarantineEvent.postgres, [outcome.quarantineReason, eventId]);
    return true;
  }
  if (await enqueueRunsOnPostgres(client, tags, [{ id: eventId, receivedAt: now, runs: outcome.runs }]))
    await client.query(notifyRunsAvailable.postgres);
  await client.query(requalifyEvent.postgres, requalifyValues(eventId, outcome));
  return true;
}
