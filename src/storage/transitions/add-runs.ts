import type { NewRun } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { type EventRuns, enqueueRunsOnPostgres, enqueueRunsOnSqlite } from "./enqueue-runs.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/** (new) → queued | blocked for an event stored already (a replayed event); the event becomes accepted. */
export const markEventAccepted = inBothDialects("UPDATE events SET status = 'accepted' WHERE id = ?");

export function addRunsOnSqlite(
  s: SqliteStatements<"takeConcurrencySlot" | "insertRun" | "markEventAccepted">,
  tags: { insertRunTags(eventId: string, runs: NewRun[], now: number): void },
  eventId: string,
  runs: NewRun[],
  now: number,
): void {
  enqueueRunsOnSqlite(s, tags, eventId, runs, now);
  if (runs.length > 0) s.markEventAccepted.run(eventId);
}

export async function addRunsOnPostgres(
  client: PostgresClient,
  tags: { insertRunTags(client: PostgresClient, events: EventRuns[]): Promise<void> },
  eventId: string,
  runs: NewRun[],
  now: number,
): Promise<void> {
  if (await enqueueRunsOnPostgres(client, tags, [{ id: eventId, receivedAt: now, runs }]))
    await client.query(notifyRunsAvailable.postgres);
  if (runs.length > 0) await client.query(markEventAccepted.postgres, [eventId]);
}
