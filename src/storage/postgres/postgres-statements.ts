/**
 * The PostgreSQL backend's statements that change no run's state (events, due times, schedules, poll cursors), as
 * SQL in full. Those that do are in ../transitions/. Accepting a batch of events is one statement over arrays.
 */
export const postgresSql = {
  insertEvents: `INSERT INTO events (id, source, type, dedup_key, payload, status, error, fingerprint, received_at, trace_context)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[])
    ON CONFLICT (source, dedup_key) DO NOTHING RETURNING id`,
  findEventsByDedupKeys: `SELECT e.id, e.source, e.dedup_key, e.fingerprint FROM events e
    JOIN unnest($1::text[], $2::text[]) AS k(source, dedup_key) ON e.source = k.source AND e.dedup_key = k.dedup_key`,
  runIdsOfEvents: "SELECT id, event_id FROM runs WHERE event_id = ANY($1::text[]) ORDER BY seq",
  hasDueSuspect: `SELECT EXISTS (SELECT 1 FROM runs WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting')
    AND available_at <= $1 AND crashes >= $2) AS due`,
  nextDueAt: "SELECT MIN(available_at) AS at FROM runs WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting')",

  ensureSchedule: "INSERT INTO schedules (id, last_tick_at) VALUES ($1, NULL) ON CONFLICT (id) DO NOTHING",
  /** Compare-and-set: only one worker moves a schedule to a given tick (the row lock makes the others re-check and miss). */
  advanceSchedule:
    "UPDATE schedules SET last_tick_at = $1 WHERE id = $2 AND (last_tick_at IS NULL OR last_tick_at < $1)",
  scheduleLastTick: "SELECT last_tick_at FROM schedules WHERE id = $1",

  ensurePollSource: "INSERT INTO poll_sources (id, next_poll_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
  /** One poller per source across workers: the lease is taken only when due and nobody holds a live lease. */
  claimPoll: `UPDATE poll_sources SET lease_owner = $1, lease_until = $2
    WHERE id = $3 AND next_poll_at <= $4 AND (lease_owner IS NULL OR lease_until < $4) RETURNING cursor, consecutive_failures`,
  /** Moves the cursor only while the caller still owns the lease; the page's events commit in the same transaction. */
  commitPoll: `UPDATE poll_sources SET cursor = $1, next_poll_at = $2, consecutive_failures = 0, last_success_at = $3,
      items_ingested = items_ingested + $4,
      lease_owner = CASE WHEN $5::boolean THEN lease_owner ELSE NULL END,
      lease_until = CASE WHEN $5::boolean THEN $6::bigint ELSE NULL END
    WHERE id = $7 AND lease_owner = $8`,
  failPoll: `UPDATE poll_sources SET lease_owner = NULL, lease_until = NULL, next_poll_at = $1,
      consecutive_failures = consecutive_failures + 1, last_error = $2, last_error_at = $3
    WHERE id = $4 AND lease_owner = $5`,
  /** Backfill: clearing the lease makes a poll in flight fail to commit, so it cannot move the cursor back. */
  resetPollCursor: `INSERT INTO poll_sources (id, cursor, next_poll_at) VALUES ($1, $2, $3)
    ON CONFLICT (id) DO UPDATE SET cursor = EXCLUDED.cursor, next_poll_at = EXCLUDED.next_poll_at, lease_owner = NULL, lease_until = NULL`,
} as const;
