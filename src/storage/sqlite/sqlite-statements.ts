/**
 * The SQLite backend's statements that change no run's state (events, due times, schedules, poll cursors), as
 * SQL in full. Those that do are in ../transitions/. One process owns the file and better-sqlite3 is synchronous,
 * so a transaction here is a plain BEGIN IMMEDIATE … COMMIT with no interleaving.
 */
export const sqliteSql = {
  findDuplicateEvent: "SELECT id, fingerprint FROM events WHERE source = ? AND dedup_key = ?",
  runIdsOfEvent: "SELECT id FROM runs WHERE event_id = ? ORDER BY seq",
  insertEvent: `INSERT INTO events (id, source, type, dedup_key, payload, status, error, fingerprint, received_at, trace_context)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  hasDueSuspect: `SELECT EXISTS (SELECT 1 FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting')
    AND available_at <= ? AND crashes >= ?) AS due`,
  // Without the hint SQLite walks a status index and reads every due row (80 ms at 100,000 queued runs); the partial
  // index answers MIN from its first entry. The worker's idle wait and the metrics' oldest-queued age read it.
  nextDueAt:
    "SELECT MIN(available_at) AS at FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting')",

  ensureSchedule: "INSERT INTO schedules (id, last_tick_at) VALUES (?, NULL) ON CONFLICT (id) DO NOTHING",
  /** Compare-and-set: only one worker moves a schedule to a given tick. */
  advanceSchedule: "UPDATE schedules SET last_tick_at = ? WHERE id = ? AND (last_tick_at IS NULL OR last_tick_at < ?)",
  scheduleLastTick: "SELECT last_tick_at FROM schedules WHERE id = ?",

  ensurePollSource: "INSERT INTO poll_sources (id, next_poll_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
  /** One poller per source: the lease is taken only when the source is due and nobody holds a live lease. */
  claimPoll: `UPDATE poll_sources SET lease_owner = ?, lease_until = ?
    WHERE id = ? AND next_poll_at <= ? AND (lease_owner IS NULL OR lease_until < ?) RETURNING cursor, consecutive_failures`,
  /** Moves the cursor only while the caller still owns the lease; the page's events commit in the same transaction. */
  commitPoll: `UPDATE poll_sources SET cursor = ?, next_poll_at = ?, consecutive_failures = 0, last_success_at = ?,
      items_ingested = items_ingested + ?,
      lease_owner = CASE WHEN ? THEN lease_owner ELSE NULL END, lease_until = CASE WHEN ? THEN ? ELSE NULL END
    WHERE id = ? AND lease_owner = ?`,
  failPoll: `UPDATE poll_sources SET lease_owner = NULL, lease_until = NULL, next_poll_at = ?,
      consecutive_failures = consecutive_failures + 1, last_error = ?, last_error_at = ?
    WHERE id = ? AND lease_owner = ?`,
  /** Backfill: clearing the lease makes a poll in flight fail to commit, so it cannot move the cursor back. */
  resetPollCursor: `INSERT INTO poll_sources (id, cursor, next_poll_at) VALUES (?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, next_poll_at = excluded.next_poll_at, lease_owner = NULL, lease_until = NULL`,
} as const;
