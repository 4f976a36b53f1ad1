/**
 * Every run state transition on PostgreSQL, as SQL in full. Hot transitions
 * (accept, claim, record step, complete) take arrays and touch many runs in one
 * round trip; claims use FOR UPDATE SKIP LOCKED so workers never wait on each other.
 */
export const postgresSql = {
  insertEvents: `INSERT INTO events (id, source, type, dedup_key, payload, status, error, fingerprint, received_at, trace_context)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[])
    ON CONFLICT (source, dedup_key) DO NOTHING RETURNING id`,
  findEventsByDedupKeys: `SELECT e.id, e.source, e.dedup_key, e.fingerprint FROM events e
    JOIN unnest($1::text[], $2::text[]) AS k(source, dedup_key) ON e.source = k.source AND e.dedup_key = k.dedup_key`,
  runIdsOfEvents: "SELECT id, event_id FROM runs WHERE event_id = ANY($1::text[]) ORDER BY seq",
  insertQueuedRuns: `INSERT INTO runs (id, integration_id, event_id, status, available_at, failures, created_at, updated_at)
    SELECT id, integration_id, event_id, 'queued', at, 0, at, at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, integration_id, event_id, at)`,
  /** Takes a slot of the key; `active` after the increment decides queued (≤ limit) or blocked. The row lock orders enqueuers of one key. */
  takeConcurrencySlot: `INSERT INTO concurrency_keys (key, active) VALUES ($1, 1)
    ON CONFLICT (key) DO UPDATE SET active = concurrency_keys.active + 1 RETURNING active`,
  insertRun: `INSERT INTO runs (id, integration_id, event_id, status, concurrency_key, concurrency_limit, available_at, failures, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $7, $7)`,
  notifyRunsAvailable: "SELECT pg_notify('tenon_runs', '')",

  /** Runs below the crash limit ($5), oldest first; suspects (at or above it) are claimed one at a time, alone. */
  claimDueRuns: claimRuns("crashes < $5"),
  claimSuspectRun: claimRuns("crashes >= $5"),
  hasDueSuspect: `SELECT EXISTS (SELECT 1 FROM runs WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting')
    AND available_at <= $1 AND crashes >= $2) AS due`,
  // Joined to unnest() rather than "= ANY($1)": mid-burst, before autovacuum has analysed the tables, the
  // planner would guess ANY matches a quarter of the rows and scan them all (measured: 7 ms vs 1 ms per claim).
  eventsByIds: `SELECT e.id, e.source, e.type, e.payload, e.received_at, e.trace_context
    FROM unnest($1::text[]) AS k(id) JOIN events e ON e.id = k.id`,
  journalOfRuns: `SELECT s.run_id, s.name, s.status, s.output, s.error, s.failures
    FROM unnest($1::text[]) AS k(id) JOIN steps s ON s.run_id = k.id`,

  /**
   * Journals completed steps, only for runs whose lease the caller still holds. Answers with the lease
   * token of each written step: a stale and a current execution of one run can share a batch, and only
   * the holder's write may be reported as done.
   */
  recordSteps: `WITH held AS (
      SELECT v.run_id, v.lease_token, v.name, v.output, v.started_at, v.now
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
        AS v(run_id, lease_token, name, output, now, started_at)
      JOIN runs r ON r.id = v.run_id AND r.lease_token = v.lease_token AND r.status = 'running'),
    written AS (
      INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at)
      SELECT run_id, name, 'completed', output, NULL, 0, started_at, now FROM held
      ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = EXCLUDED.output, error = NULL,
        started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at)
    SELECT run_id, lease_token FROM held`,
  /**
   * A succeeded run keeps no last error: its earlier failures stay in run_history, as attempts. Its success is
   * the run row itself (status, finished_at): no history row, the timeline reads it from there.
   */
  completeRuns: `UPDATE runs r SET status = 'succeeded', output = v.output, last_error = NULL, lease_token = NULL, lease_until = NULL, finished_at = v.now, updated_at = v.now
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, lease_token, output, now)
      WHERE r.id = v.id AND r.lease_token = v.lease_token AND r.status = 'running'
      RETURNING r.id, v.lease_token, r.concurrency_key`,
  recordStepFailure: `INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at) VALUES ($1, $2, 'failed', NULL, $3, 1, $4, $5)
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'failed', error = EXCLUDED.error, failures = steps.failures + 1,
      started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at`,
  /** Failed attempts, waits, pauses, sleeps, interruptions and replays: never a step that succeeded. */
  recordHistory: `INSERT INTO run_history (run_id, kind, step_name, attempt, connection_id, started_at, at, until_at, detail, actor)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
  runToReplay: "SELECT id, status, concurrency_key, concurrency_limit, finished_at FROM runs WHERE id = $1 FOR UPDATE",
  replayRun:
    "UPDATE runs SET status = $1, available_at = $2, waiting_on = NULL, failures = 0, crashes = 0, finished_at = NULL, updated_at = $2 WHERE id = $3",
  /** A replay gets a fresh retry budget for the step that failed. */
  resetFailedSteps: "UPDATE steps SET failures = 0 WHERE run_id = $1 AND status = 'failed'",
  /** The row lock makes two replays of one event take turns: the second finds it accepted and does nothing. */
  eventInStatus: "SELECT id FROM events WHERE id = $1 AND status = $2 FOR UPDATE",
  /** Its type and payload change only when its body is parsed now (NULL keeps them). */
  requalifyEvent:
    "UPDATE events SET status = $1, error = NULL, type = COALESCE($2, type), payload = COALESCE($3, payload) WHERE id = $4",
  requarantineEvent: "UPDATE events SET status = 'quarantined', error = $1 WHERE id = $2",
  retryRun: `UPDATE runs SET status = 'retrying', available_at = $1, last_error = $2, failures = failures + $3, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = $4
    WHERE id = $5 AND lease_token = $6 AND status = 'running'`,
  finishRunWithError: `UPDATE runs SET status = $1, last_error = $2, failures = failures + $3, lease_token = NULL, lease_until = NULL, finished_at = $4, updated_at = $4
    WHERE id = $5 AND lease_token = $6 AND status = 'running' RETURNING concurrency_key`,
  sleepRun: `UPDATE runs SET status = 'sleeping', available_at = $1, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = $2
    WHERE id = $3 AND lease_token = $4 AND status = 'running'`,
  recordSleep: `INSERT INTO steps (run_id, name, status, output, error, failures, updated_at) VALUES ($1, $2, 'completed', $3, NULL, 0, $4)
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = EXCLUDED.output, updated_at = EXCLUDED.updated_at`,
  releaseRun: `UPDATE runs SET status = 'queued', available_at = $1, lease_token = NULL, lease_until = NULL, updated_at = $1
    WHERE id = $2 AND lease_token = $3 AND status = 'running'`,
  /** A worker that fenced itself hands the run back as an interruption (see interruptRuns). */
  interruptRun: interruptRuns(
    "SELECT seq, id FROM runs WHERE id = $3 AND lease_token = $4 AND status = 'running' FOR NO KEY UPDATE",
  ),
  /** No attempt is used: the connection, not the run, is what failed. */
  waitRun: `UPDATE runs SET status = 'waiting', available_at = $1, waiting_on = $2, last_error = $3, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = $4
    WHERE id = $5 AND lease_token = $6 AND status = 'running'`,
  /**
   * The share lock makes pausing and saving credentials take turns: saveCredentials updates this row before it
   * requeues the paused runs, so either it sees this run paused, or this sees the connection active again.
   */
  lockConnectionStatus: "SELECT status FROM connections WHERE id = $1 FOR SHARE",
  pauseRun: `UPDATE runs SET status = 'paused', waiting_on = $1, last_error = $2, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = $3
    WHERE id = $4 AND lease_token = $5 AND status = 'running'`,

  /** A finished run frees its key's slot and hands it to the oldest blocked run of that key (FIFO). */
  releaseConcurrencySlot: "UPDATE concurrency_keys SET active = active - 1 WHERE key = $1 RETURNING active",
  forgetIdleConcurrencyKey: "DELETE FROM concurrency_keys WHERE key = $1 AND active <= 0",
  promoteOldestBlocked: `UPDATE runs SET status = 'queued', available_at = $1, updated_at = $1
    WHERE seq = (SELECT seq FROM runs WHERE concurrency_key = $2 AND status = 'blocked' ORDER BY seq LIMIT 1)
    RETURNING id`,

  /**
   * Heartbeat. SKIP LOCKED: it never waits for a row a transition holds, so it cannot take part in a deadlock;
   * a row skipped now is renewed by the next beat (its holder goes by the lease it last had confirmed).
   */
  extendLeases: `UPDATE runs r SET lease_until = $1
    FROM (SELECT seq FROM runs WHERE status = 'running' AND lease_token = ANY($2::text[]) FOR NO KEY UPDATE SKIP LOCKED) held
    WHERE r.seq = held.seq RETURNING r.id, r.lease_token`,
  /**
   * Crash recovery: a lease that ran out means its worker died or stalled. An interruption, not a failure;
   * SKIP LOCKED for the same reason as the heartbeat (a row in transition is looked at by the next sweep).
   */
  expireLeases: interruptRuns(
    "SELECT seq, id FROM runs WHERE status = 'running' AND lease_until < $1 FOR NO KEY UPDATE SKIP LOCKED",
    "'the worker running this attempt stopped renewing its lease (crashed or stalled); the run was requeued'",
  ),
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

/**
 * Requeues the runs `target` selects (columns seq, id) as interrupted: at once, with no attempt used. Their
 * `crashes` grows by one unless they completed a step since their previous interruption (more completed
 * steps than `steps_at_interruption`), in which case it starts again from zero: a run that advances is
 * never dead-lettered by the crashes of its process; each interruption is kept in the run's history. $1 is
 * now; the reason is $2 unless given as SQL.
 */
function interruptRuns(target: string, reason = "$2"): string {
  return `WITH target AS (${target}),
    progress AS (
      SELECT t.seq, count(s.run_id) AS completed FROM target t
      LEFT JOIN steps s ON s.run_id = t.id AND s.status = 'completed' GROUP BY t.seq),
    requeued AS (
      UPDATE runs r SET status = 'queued', available_at = $1, lease_token = NULL, lease_until = NULL,
        crashes = CASE WHEN p.completed > r.steps_at_interruption THEN 0 ELSE r.crashes + 1 END,
        steps_at_interruption = p.completed, last_error = ${reason}, updated_at = $1
      FROM progress p WHERE r.seq = p.seq
      RETURNING r.id, r.last_error),
    recorded AS (INSERT INTO run_history (run_id, kind, at, detail) SELECT id, 'interrupt', $1, last_error FROM requeued)
    SELECT id FROM requeued`;
}

/**
 * Leases due runs that match `crashes` ($1 now, $2 limit, $3 token, $4 lease until, $5 the crash limit), and
 * records each claim with the claimant ($6), in the same statement: the first in the run row (started_at,
 * claimed_by), each later one in the run's history.
 */
function claimRuns(crashes: string): string {
  return `WITH due AS (
      SELECT seq FROM runs WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting') AND available_at <= $1 AND ${crashes}
      ORDER BY available_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED),
    claimed AS (
      UPDATE runs r SET status = 'running', lease_token = $3, lease_until = $4, started_at = COALESCE(r.started_at, $1), updated_at = $1,
        claims = COALESCE(r.claims, CASE WHEN r.started_at IS NULL THEN 0 ELSE 1 END) + 1,
        claimed_by = CASE WHEN r.started_at IS NULL THEN $6::text ELSE r.claimed_by END, waiting_on = NULL
      FROM due WHERE r.seq = due.seq
      RETURNING r.seq, r.id, r.integration_id, r.event_id, r.failures, r.crashes, r.last_error, r.created_at, r.available_at, r.claims),
    recorded AS (INSERT INTO run_history (run_id, kind, at, detail) SELECT id, 'claim', $1, $6::text FROM claimed WHERE claims > 1)
    SELECT * FROM claimed`;
}
