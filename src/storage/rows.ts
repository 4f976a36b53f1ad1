import type { EventRecord, JournalEntry, RunRecord, RunStatus, StepRecord } from "./contract.ts";

/** Row shapes as both backends return them (snake_case, numbers for int64). */
export interface RunRow {
  id: string;
  integration_id: string;
  event_id: string;
  status: string;
  concurrency_key: string | null;
  available_at: number;
  failures: number;
  last_error: string | null;
  output: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface EventRow {
  id: string;
  source: string;
  type: string;
  dedup_key: string | null;
  payload: string;
  status: string;
  received_at: number;
}

export interface StepRow {
  run_id: string;
  name: string;
  status: string;
  output: string | null;
  error: string | null;
  failures: number;
  updated_at: number;
}

export const runColumns =
  "id, integration_id, event_id, status, concurrency_key, available_at, failures, last_error, output, created_at, started_at, finished_at";

export function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    integrationId: row.integration_id,
    eventId: row.event_id,
    status: row.status as RunStatus,
    concurrencyKey: row.concurrency_key,
    availableAt: Number(row.available_at),
    failures: row.failures,
    lastError: row.last_error,
    outputJson: row.output,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
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
    receivedAt: Number(row.received_at),
  };
}

export function toStepRecord(row: StepRow): StepRecord {
  return {
    runId: row.run_id,
    name: row.name,
    status: row.status as StepRecord["status"],
    outputJson: row.output,
    error: row.error,
    failures: row.failures,
    updatedAt: Number(row.updated_at),
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
