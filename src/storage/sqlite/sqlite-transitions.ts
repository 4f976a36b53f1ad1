/**
 * Every run state transition on SQLite, as SQL in full. One process owns the
 * file and better-sqlite3 is synchronous, so a transaction here is a plain
 * BEGIN IMMEDIATE … COMMIT with no interleaving.
 */
export const sqliteSql = {
  findDuplicateEvent: "SELECT id, fingerprint FROM events WHERE source = ? AND dedup_key = ?",
  runIdsOfEvent: "SELECT id FROM runs WHERE event_id = ? ORDER BY seq",
  insertEvent: `INSERT INTO events (id, source, type, dedup_key, payload, status, error, fingerprint, received_at, trace_context)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  /** Takes a slot of the key; `active` after the increment decides queued (≤ limit) or blocked. */
  takeConcurrencySlot:
    "INSERT INTO concurrency_keys (key, active) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET active = active + 1 RETURNING active",
  insertRun: `INSERT INTO runs (id, integration_id, event_id, status, concurrency_key, concurrency_limit, available_at, failures, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,

  /** Runs below the crash limit, oldest first; suspects (at or above it) are claimed one at a time, alone. */
  claimDueRuns: claimRuns("crashes < :maxCrashes"),
  claimSuspectRun: claimRuns("crashes >= :maxCrashes"),
  hasDueSuspect: `SELECT EXISTS (SELECT 1 FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting')
    AND available_at <= ? AND crashes >= ?) AS due`,
  /** One row per claimed run but its first (that one is the run row's), in the claim's transaction: when, by whom. */
  recordClaims: "INSERT INTO run_history (run_id, kind, at, detail) SELECT value, 'claim', ?, ? FROM json_each(?)",
  eventsByIds:
    "SELECT id, source, type, payload, received_at, trace_context FROM events WHERE id IN (SELECT value FROM json_each(?))",
  journalOfRuns:
    "SELECT run_id, name, status, output, error, failures FROM steps WHERE run_id IN (SELECT value FROM json_each(?))",

  /** Journals a completed step, only while the caller still holds the run's lease. */
  recordStep: `INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at)
    SELECT ?, ?, 'completed', ?, NULL, 0, ?, ?
    WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND lease_token = ? AND status = 'running')
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = excluded.output, error = NULL,
      started_at = excluded.started_at, updated_at = excluded.updated_at`,
  recordStepFailure: `INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at) VALUES (?, ?, 'failed', NULL, ?, 1, ?, ?)
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'failed', error = excluded.error, failures = steps.failures + 1,
      started_at = excluded.started_at, updated_at = excluded.updated_at`,
  /** A succeeded run keeps no last error: its earlier failures stay in run_history, as attempts. */
  completeRun: `UPDATE runs SET status = 'succeeded', output = ?, last_error = NULL, lease_token = NULL, lease_until = NULL, finished_at = ?, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING concurrency_key`,
  retryRun: `UPDATE runs SET status = 'retrying', available_at = ?, last_error = ?, failures = failures + ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
  finishRunWithError: `UPDATE runs SET status = ?, last_error = ?, failures = failures + ?, lease_token = NULL, lease_until = NULL, finished_at = ?, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING concurrency_key`,
  sleepRun: `UPDATE runs SET status = 'sleeping', available_at = ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
  recordSleep: `INSERT INTO steps (run_id, name, status, output, error, failures, updated_at) VALUES (?, ?, 'completed', ?, NULL, 0, ?)
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = excluded.output, updated_at = excluded.updated_at`,
  releaseRun: `UPDATE runs SET status = 'queued', available_at = ?, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
  /** A worker that fenced itself hands the run back as an interruption (see interruptRuns). */
  interruptRun: interruptRuns("id = :id AND lease_token = :leaseToken"),
  /** No attempt is used: the connection, not the run, is what failed. */
  waitRun: `UPDATE runs SET status = 'waiting', available_at = ?, waiting_on = ?, last_error = ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
  connectionStatus: "SELECT status FROM connections WHERE id = ?",
  /** Used only while the connection is auth_failed (read in the same transaction), so the next saved credentials requeue it. */
  pauseRun: `UPDATE runs SET status = 'paused', waiting_on = ?, last_error = ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,

  /** A finished run frees its key's slot and hands it to the oldest blocked run of that key (FIFO). */
  releaseConcurrencySlot: "UPDATE concurrency_keys SET active = active - 1 WHERE key = ? RETURNING active",
  forgetIdleConcurrencyKey: "DELETE FROM concurrency_keys WHERE key = ? AND active <= 0",
  promoteOldestBlocked: `UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?
    WHERE seq = (SELECT seq FROM runs WHERE concurrency_key = ? AND status = 'blocked' ORDER BY seq LIMIT 1)`,

  extendLeases: `UPDATE runs SET lease_until = ? WHERE status = 'running' AND lease_token IN (SELECT value FROM json_each(?))
    RETURNING id, lease_token`,
  /** At the start of the file's new owner: whatever is still running belonged to a process that died. */
  interruptAllRuns: interruptRuns("1 = 1"),
  /** Written before interruptAllRuns, in its transaction, while the runs are still `running`. */
  recordAllInterruptions: `INSERT INTO run_history (run_id, kind, at, detail)
    SELECT id, 'interrupt', :now, :reason FROM runs WHERE status = 'running'`,
  /** Failed attempts, waits, pauses, sleeps, interruptions and replays: never a step that succeeded. */
  recordHistory: `INSERT INTO run_history (run_id, kind, step_name, attempt, connection_id, started_at, at, until_at, detail, actor)
    VALUES (:runId, :kind, :stepName, :attempt, :connectionId, :startedAt, :at, :until, :detail, :actor)`,
  runToReplay: "SELECT id, status, concurrency_key, concurrency_limit, finished_at FROM runs WHERE id = ?",
  replayRun:
    "UPDATE runs SET status = ?, available_at = ?, waiting_on = NULL, failures = 0, crashes = 0, finished_at = NULL, updated_at = ? WHERE id = ?",
  /** A replay gets a fresh retry budget for the step that failed. */
  resetFailedSteps: "UPDATE steps SET failures = 0 WHERE run_id = ? AND status = 'failed'",
  /** The event, while it is still in the status it was read in (quarantined or unmatched). */
  eventInStatus: "SELECT id FROM events WHERE id = ? AND status = ?",
  /** Its type and payload change only when its body is parsed now (NULL keeps them). */
  requalifyEvent:
    "UPDATE events SET status = ?, error = NULL, type = COALESCE(?, type), payload = COALESCE(?, payload) WHERE id = ?",
  requarantineEvent: "UPDATE events SET status = 'quarantined', error = ? WHERE id = ?",
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

/**
 * Requeues the running runs `where` selects as interrupted: at once, with no attempt used. Their `crashes`
 * grows by one unless they completed a step since their previous interruption (more completed steps than
 * `steps_at_interruption`), in which case it starts again from zero: a run that advances is never
 * dead-lettered by the crashes of its process. Named parameters :now and :reason.
 */
function interruptRuns(where: string): string {
  const completed = "(SELECT count(*) FROM steps s WHERE s.run_id = runs.id AND s.status = 'completed')";
  return `UPDATE runs SET status = 'queued', available_at = :now, lease_token = NULL, lease_until = NULL,
      crashes = CASE WHEN ${completed} > steps_at_interruption THEN 0 ELSE crashes + 1 END,
      steps_at_interruption = ${completed}, last_error = :reason, updated_at = :now
    WHERE status = 'running' AND ${where}`;
}

/**
 * Leases due runs that match `crashes`. Named parameters :token, :leaseUntil, :now, :limit, :maxCrashes,
 * :claimedBy. The first claim is kept in the row (started_at, claimed_by); `claims` tells the first from the rest
 * (runs written before migration 013, whose `claims` is NULL, count from started_at).
 */
function claimRuns(crashes: string): string {
  return `UPDATE runs SET status = 'running', lease_token = :token, lease_until = :leaseUntil, started_at = COALESCE(started_at, :now),
      claims = COALESCE(claims, CASE WHEN started_at IS NULL THEN 0 ELSE 1 END) + 1, claimed_by = CASE WHEN started_at IS NULL THEN :claimedBy ELSE claimed_by END,
      updated_at = :now, waiting_on = NULL
    WHERE seq IN (
      SELECT seq FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting') AND available_at <= :now
        AND ${crashes}
      ORDER BY available_at, seq LIMIT :limit)
    RETURNING seq, id, integration_id, event_id, failures, crashes, last_error, created_at, available_at, claims`;
}
