import type {
  EventRecord,
  EventStatus,
  JournalEntry,
  NewEvent,
  PollState,
  RenewedLease,
  RunHistoryEntry,
  RunRecord,
  RunStatus,
  StepRecord,
} from "./contract.ts";

/** Row shapes as both backends return them (snake_case, numbers for int64). */
export interface RunRow {
  id: string;
  integration_id: string;
  event_id: string;
  status: string;
  concurrency_key: string | null;
  available_at: number;
  waiting_on: string | null;
  failures: number;
  crashes: number;
  last_error: string | null;
  output: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** The worker of its first claim (migration 013; null before, or when claimed without a name). */
  claimed_by: string | null;
}

export interface EventRow {
  id: string;
  source: string;
  type: string;
  dedup_key: string | null;
  payload: string;
  status: string;
  error: string | null;
  received_at: number;
}

/** The event of a claimed run, as the claim reads it. */
export type ClaimedEventRow = Pick<EventRow, "id" | "source" | "type" | "payload" | "received_at"> & {
  trace_context: string | null;
};

export interface PollSourceRow {
  id: string;
  cursor: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  next_poll_at: number;
  consecutive_failures: number;
  last_success_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  items_ingested: number;
}

export interface StepRow {
  run_id: string;
  name: string;
  status: string;
  output: string | null;
  error: string | null;
  failures: number;
  started_at?: number | null;
  updated_at: number;
}

export interface RunHistoryRow {
  run_id: string;
  kind: string;
  step_name: string | null;
  attempt: number | null;
  connection_id: string | null;
  started_at: number | null;
  at: number;
  until_at: number | null;
  detail: string | null;
  actor: string | null;
}

export const runColumns =
  "id, integration_id, event_id, status, concurrency_key, available_at, waiting_on, failures, crashes, last_error, output, created_at, started_at, finished_at, claimed_by";

export function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    integrationId: row.integration_id,
    eventId: row.event_id,
    status: row.status as RunStatus,
    concurrencyKey: row.concurrency_key,
    availableAt: Number(row.available_at),
    waitingOn: row.waiting_on,
    failures: row.failures,
    crashes: row.crashes,
    lastError: row.last_error,
    outputJson: row.output,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    claimedBy: row.claimed_by ?? null,
  };
}

export function toEventRecord(row: EventRow): EventRecord {
  return {
    id: row.id,
    source: row.source,
    type: row.type,
    dedupKey: row.dedup_key,
    payloadJson: row.payload,
    status: row.status as EventRecord["status"],
    error: row.error,
    receivedAt: Number(row.received_at),
  };
}

export function toPollState(row: PollSourceRow): PollState {
  return {
    id: row.id,
    cursor: row.cursor,
    nextPollAt: Number(row.next_poll_at),
    consecutiveFailures: row.consecutive_failures,
    lastSuccessAt: nullableNumber(row.last_success_at),
    lastError: row.last_error,
    lastErrorAt: nullableNumber(row.last_error_at),
    itemsIngested: Number(row.items_ingested),
    leasedBy: row.lease_owner,
    leaseUntil: nullableNumber(row.lease_until),
  };
}

function nullableNumber(value: number | null): number | null {
  return value === null ? null : Number(value);
}

export function toStepRecord(row: StepRow): StepRecord {
  return {
    runId: row.run_id,
    name: row.name,
    status: row.status as StepRecord["status"],
    outputJson: row.output,
    error: row.error,
    failures: row.failures,
    startedAt: nullableNumber(row.started_at ?? null),
    updatedAt: Number(row.updated_at),
  };
}

export function toRunHistoryEntry(row: RunHistoryRow): RunHistoryEntry {
  return {
    kind: row.kind as RunHistoryEntry["kind"],
    stepName: row.step_name,
    attempt: row.attempt,
    connectionId: row.connection_id,
    startedAt: nullableNumber(row.started_at),
    at: Number(row.at),
    until: nullableNumber(row.until_at),
    detail: row.detail,
    ...(row.actor === null ? {} : { actor: row.actor }),
  };
}

export function groupJournal(rows: StepRow[]): Map<string, JournalEntry[]> {
  const journals = new Map<string, JournalEntry[]>();
  for (const row of rows) {
    const entry: JournalEntry = {
      name: row.name,
      status: row.status as JournalEntry["status"],
      outputJson: row.output,
      error: row.error,
      failures: row.failures,
    };
    const list = journals.get(row.run_id);
    if (list) list.push(entry);
    else journals.set(row.run_id, [entry]);
  }
  return journals;
}

/** The status a new event is stored with. */
export function eventStatus(event: NewEvent): EventStatus {
  if (event.quarantineReason !== undefined) return "quarantined";
  return event.runs.length > 0 ? "accepted" : "unmatched";
}

export interface RenewedLeaseRow {
  id: string;
  lease_token: string;
}

export function toRenewedLease(row: RenewedLeaseRow): RenewedLease {
  return { runId: row.id, leaseToken: row.lease_token };
}
