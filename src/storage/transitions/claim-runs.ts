import type pg from "pg";
import type { ClaimedRun, ClaimInput } from "../contract.ts";
import { type ClaimedEventRow, groupJournal, type StepRow } from "../rows.ts";
import type { SqliteStatements } from "./dialects.ts";

/**
 * queued | retrying | sleeping | waiting → running, when due. A claim leases due runs under one token
 * (`lease_token`, `lease_until`) and records who claimed them: the first claim in the run row (started_at,
 * claimed_by; `claims` tells the first from the rest, and runs written before migration 013, whose `claims` is
 * NULL, count from started_at), each later one in the run's history. Runs below the crash limit are claimed
 * oldest first; suspects (at or above it) one at a time, alone. `waiting_on` is cleared: a claimed run waits on
 * nothing.
 */
export const claimDueRuns = {
  sqlite: claimOnSqlite("crashes < :maxCrashes"),
  postgres: claimOnPostgres("crashes < $5"),
} as const;
export const claimSuspectRun = {
  sqlite: claimOnSqlite("crashes >= :maxCrashes"),
  postgres: claimOnPostgres("crashes >= $5"),
} as const;
/** SQLite: one row per claimed run but its first (that one is the run row's), in the claim's transaction. */
export const recordClaims = {
  sqlite: "INSERT INTO run_history (run_id, kind, at, detail) SELECT value, 'claim', ?, ? FROM json_each(?)",
} as const;
/** What a claimed run is executed with: its event and its journal (PostgreSQL's claim returns the event itself). */
export const eventsOfClaimedRuns = {
  sqlite:
    "SELECT id, source, type, payload, received_at, trace_context FROM events WHERE id IN (SELECT value FROM json_each(?))",
} as const;
/**
 * PostgreSQL: a statement of its own, run once the claim has committed, and only when a claimed run was claimed
 * before (a run's first claim has no journal: steps are written only under a lease). Not part of the claiming
 * statement: that one reads with the snapshot taken when it started, and a run it locks later may have changed
 * since. PostgreSQL then claims the run's newest version (READ COMMITTED re-checks a locked row), but a subquery
 * over steps would still see the old journal and miss a step its previous holder committed meanwhile, which the
 * claimant would run again (test/storage/claim-journal.test.ts). This statement's snapshot comes after the claim,
 * so it holds every step committed before the claim locked the run.
 *
 * One index probe per run (LATERAL, kept from being flattened into a join by OFFSET 0): as a join, before
 * autovacuum has analysed `steps`, the planner guesses each run has 0.5% of all steps and hashes the whole table
 * (measured: 26-35 ms per claim at 60,000 steps, against 0.7-1 ms).
 */
export const journalOfClaimedRuns = {
  sqlite:
    "SELECT run_id, name, status, output, error, failures FROM steps WHERE run_id IN (SELECT value FROM json_each(?))",
  postgres: `SELECT k.id AS run_id, s.name, s.status, s.output, s.error, s.failures
    FROM unnest($1::text[]) AS k(id)
    CROSS JOIN LATERAL (SELECT name, status, output, error, failures FROM steps WHERE run_id = k.id OFFSET 0) s`,
} as const;

/**
 * Named parameters :token, :leaseUntil, :now, :limit, :maxCrashes, :claimedBy. Without the index hint SQLite
 * would walk a status index; `runs_due` holds only the runs that can be claimed.
 */
function claimOnSqlite(crashes: string): string {
  return `UPDATE runs SET status = 'running', lease_token = :token, lease_until = :leaseUntil, started_at = COALESCE(started_at, :now),
      claims = COALESCE(claims, CASE WHEN started_at IS NULL THEN 0 ELSE 1 END) + 1, claimed_by = CASE WHEN started_at IS NULL THEN :claimedBy ELSE claimed_by END,
      updated_at = :now, waiting_on = NULL
    WHERE seq IN (
      SELECT seq FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'retrying', 'sleeping', 'waiting') AND available_at <= :now
        AND ${crashes}
      ORDER BY available_at, seq LIMIT :limit)
    RETURNING seq, id, integration_id, event_id, failures, crashes, last_error, created_at, available_at, claims`;
}

/**
 * $1 now, $2 limit, $3 token, $4 lease until, $5 the crash limit, $6 the claimant. SKIP LOCKED: workers never
 * wait on each other. Each later claim is recorded in the same statement (a data-modifying CTE), and each claimed
 * run comes back with its event's columns: an event no longer changes once a run refers to it (a requalified one
 * is rewritten in the transaction that enqueues its runs), so this statement's snapshot reads it as it is.
 */
function claimOnPostgres(crashes: string): string {
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
    SELECT c.*, e.source AS event_source, e.type AS event_type, e.payload AS event_payload,
      e.received_at AS event_received_at, e.trace_context AS event_trace_context
    FROM claimed c LEFT JOIN events e ON e.id = c.event_id`;
}

interface ClaimedRow {
  seq: number;
  id: string;
  integration_id: string;
  event_id: string;
  failures: number;
  crashes: number;
  last_error: string | null;
  created_at: number;
  available_at: number;
  claims: number;
}

type ClaimStatements = SqliteStatements<
  "claimDueRuns" | "claimSuspectRun" | "recordClaims" | "eventsOfClaimedRuns" | "journalOfClaimedRuns"
>;

/** Inside the caller's transaction, which must be durable: a run must not start before its event is on disk. */
export function claimRunsOnSqlite(
  s: ClaimStatements,
  which: "claimDueRuns" | "claimSuspectRun",
  input: ClaimInput & { limit: number },
): ClaimedRun[] {
  const { leaseToken, limit, now, leaseUntil } = input;
  const rows = s[which].all({
    token: leaseToken,
    leaseUntil,
    now,
    limit,
    maxCrashes: input.maxCrashes ?? Number.MAX_SAFE_INTEGER,
    claimedBy: input.claimedBy ?? null,
  }) as ClaimedRow[];
  if (rows.length === 0) return [];
  rows.sort((a, b) => a.seq - b.seq);
  const reclaimed = rows.filter((r) => r.claims > 1);
  if (reclaimed.length > 0) {
    s.recordClaims.run(now, input.claimedBy ?? null, JSON.stringify(reclaimed.map((r) => r.id)));
  }
  const eventIds = JSON.stringify([...new Set(rows.map((r) => r.event_id))]);
  const events = s.eventsOfClaimedRuns.all(eventIds) as ClaimedEventRow[];
  const journal = s.journalOfClaimedRuns.all(JSON.stringify(rows.map((r) => r.id))) as StepRow[];
  return toClaimedRuns(rows, events, journal, leaseToken);
}

/**
 * The claiming statement on the pool (it commits alone) returns the runs with their events; the journals of the
 * runs claimed before are read next, by a statement of their own (journalOfClaimedRuns says why). A claim of
 * new runs only is one round trip.
 */
export async function claimRunsOnPostgres(
  pool: pg.Pool,
  which: "claimDueRuns" | "claimSuspectRun",
  input: ClaimInput & { limit: number },
): Promise<ClaimedRun[]> {
  const { leaseToken, limit, now, leaseUntil } = input;
  const claimed = await pool.query<ClaimedRowWithEvent>({
    name: which === "claimDueRuns" ? "tenon_claim" : "tenon_claim_suspect",
    text: which === "claimDueRuns" ? claimDueRuns.postgres : claimSuspectRun.postgres,
    values: [now, limit, leaseToken, leaseUntil, input.maxCrashes ?? 2 ** 31 - 1, input.claimedBy ?? null],
  });
  const rows = claimed.rows.sort((a, b) => a.seq - b.seq);
  if (rows.length === 0) return [];
  const events: ClaimedEventRow[] = [];
  for (const row of rows) {
    // A run whose event is gone (the LEFT JOIN found none): toClaimedRuns says so.
    if (row.event_source === null) continue;
    events.push({
      id: row.event_id,
      source: row.event_source,
      type: row.event_type as string,
      payload: row.event_payload as string,
      received_at: row.event_received_at as number,
      trace_context: row.event_trace_context,
    });
  }
  const reclaimed = rows.filter((r) => r.claims > 1).map((r) => r.id);
  const journal =
    reclaimed.length === 0
      ? []
      : (await pool.query<StepRow>({ name: "tenon_journal", text: journalOfClaimedRuns.postgres, values: [reclaimed] }))
          .rows;
  return toClaimedRuns(rows, events, journal, leaseToken);
}

/** A PostgreSQL claim's row: the run and its event's columns (null when the event is gone). */
interface ClaimedRowWithEvent extends ClaimedRow {
  event_source: string | null;
  event_type: string | null;
  event_payload: string | null;
  event_received_at: number | null;
  event_trace_context: string | null;
}

function toClaimedRuns(
  rows: ClaimedRow[],
  eventRows: ClaimedEventRow[],
  journal: StepRow[],
  leaseToken: string,
): ClaimedRun[] {
  const events = new Map(eventRows.map((e) => [e.id, e]));
  const journals = groupJournal(journal);
  return rows.map((row) => {
    const event = events.get(row.event_id);
    if (!event) throw new Error(`run ${row.id} refers to event ${row.event_id}, which is missing`);
    return {
      id: row.id,
      integrationId: row.integration_id,
      eventId: row.event_id,
      leaseToken,
      failures: row.failures,
      crashes: row.crashes,
      lastError: row.last_error,
      createdAt: row.created_at,
      availableAt: row.available_at,
      firstClaim: row.claims === 1,
      event: {
        id: event.id,
        source: event.source,
        type: event.type,
        payloadJson: event.payload,
        receivedAt: event.received_at,
        traceContext: event.trace_context,
      },
      journal: journals.get(row.id) ?? [],
    };
  });
}
