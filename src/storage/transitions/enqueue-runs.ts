import type { NewRun, RunStatus } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";

/**
 * (new) → queued | blocked. The runs of an accepted event, in the transaction that stores it (acceptEvents,
 * commitPoll, fireScheduleTick), or later for an event stored already (addRuns, requalifyEvent, a replayed
 * finished run's key). A run with a concurrency key takes a slot of it; `active` after the increment decides
 * queued (≤ limit) or blocked. On PostgreSQL the upsert's row lock orders the enqueuers of one key.
 */
export const takeConcurrencySlot = inBothDialects(
  `INSERT INTO concurrency_keys (key, active) VALUES (?, 1)
    ON CONFLICT (key) DO UPDATE SET active = concurrency_keys.active + 1 RETURNING active`,
);
export const insertRun = inBothDialects(
  `INSERT INTO runs (id, integration_id, event_id, status, concurrency_key, concurrency_limit, available_at, failures, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
);
/** PostgreSQL: the runs without a key of a whole batch of events, in one statement. */
export const insertQueuedRuns = {
  postgres: `INSERT INTO runs (id, integration_id, event_id, status, available_at, failures, created_at, updated_at)
    SELECT id, integration_id, event_id, 'queued', at, 0, at, at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, integration_id, event_id, at)`,
} as const;

/** An event whose runs are enqueued: its id, the time they are created at, and the runs. */
export interface EventRuns {
  id: string;
  receivedAt: number;
  runs: NewRun[];
}

export function enqueueRunsOnSqlite(
  s: SqliteStatements<"takeConcurrencySlot" | "insertRun">,
  tags: { insertRunTags(eventId: string, runs: NewRun[], now: number): void },
  eventId: string,
  runs: NewRun[],
  now: number,
): void {
  for (const run of runs) {
    const status = statusForNewRunOnSqlite(s, run.concurrencyKey, run.concurrencyLimit);
    s.insertRun.run(
      run.id,
      run.integrationId,
      eventId,
      status,
      run.concurrencyKey,
      run.concurrencyLimit,
      now,
      now,
      now,
    );
  }
  tags.insertRunTags(eventId, runs, now);
}

export function statusForNewRunOnSqlite(
  s: SqliteStatements<"takeConcurrencySlot">,
  key: string | null,
  limit: number | null,
): RunStatus {
  if (key === null) return "queued";
  const { active } = s.takeConcurrencySlot.get(key) as { active: number };
  return active <= (limit ?? 1) ? "queued" : "blocked";
}

/** Returns whether any run became claimable (so workers should be woken). */
export async function enqueueRunsOnPostgres(
  client: PostgresClient,
  tags: { insertRunTags(client: PostgresClient, events: EventRuns[]): Promise<void> },
  events: EventRuns[],
): Promise<boolean> {
  const plain = events.flatMap((e) => e.runs.filter((r) => r.concurrencyKey === null).map((r) => ({ e, r })));
  if (plain.length > 0) {
    await client.query({
      name: "tenon_insert_queued_runs",
      text: insertQueuedRuns.postgres,
      values: [
        plain.map((x) => x.r.id),
        plain.map((x) => x.r.integrationId),
        plain.map((x) => x.e.id),
        plain.map((x) => x.e.receivedAt),
      ],
    });
  }
  let anyQueued = plain.length > 0;
  for (const event of events) {
    for (const run of event.runs) {
      if (run.concurrencyKey === null) continue;
      const status = await statusForNewRunOnPostgres(client, run.concurrencyKey, run.concurrencyLimit);
      anyQueued ||= status === "queued";
      const at = event.receivedAt;
      await client.query({
        name: "tenon_insert_run",
        text: insertRun.postgres,
        values: [run.id, run.integrationId, event.id, status, run.concurrencyKey, run.concurrencyLimit, at, at, at],
      });
    }
  }
  await tags.insertRunTags(client, events);
  return anyQueued;
}

export async function statusForNewRunOnPostgres(
  client: PostgresClient,
  key: string | null,
  limit: number | null,
): Promise<RunStatus> {
  if (key === null) return "queued";
  const { rows } = await client.query<{ active: number }>({
    name: "tenon_take_slot",
    text: takeConcurrencySlot.postgres,
    values: [key],
  });
  return (rows[0]?.active ?? 1) <= (limit ?? 1) ? "queued" : "blocked";
}
