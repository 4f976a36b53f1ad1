import { readSettings } from "../../config/settings.ts";
import type { RunFilter, RunRecord, RunStatus, Storage } from "../../storage/contract.ts";
import { isRunStatus, runStatuses } from "../../storage/run-statuses.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

const errorWidth = 80;

export interface RunsOptions {
  status?: string;
  integration?: string;
  limit: number;
  /** Counts by status instead of a list; `limit` does not apply. */
  count?: boolean;
  /** JSON on stdout, for scripts. */
  json?: boolean;
}

/** A run as `tenon runs --json` prints it: the stored fields, times in ISO 8601 (UTC), the last error in full. */
interface RunJson {
  id: string;
  integrationId: string;
  eventId: string;
  status: RunStatus;
  /** Failed attempts, of the run and of its steps: the FAILURES column. */
  failures: number;
  lastError: string | null;
  concurrencyKey: string | null;
  /** The connection a waiting or paused run waits on. */
  waitingOn: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** When a queued, retrying, sleeping or waiting run may next be claimed. */
  availableAt: string;
}

/** `tenon runs`: the most recent runs, newest first; or, with `--count`, how many runs are in each status. */
export async function runsCommand(options: RunsOptions): Promise<void> {
  const filter: RunFilter = { limit: options.limit };
  if (options.status !== undefined && isRunStatus(options.status)) filter.status = options.status;
  if (options.integration !== undefined) filter.integrationId = options.integration;
  const storage = await openExistingStorage(readSettings());
  try {
    if (options.count) {
      const counts = await countRuns(storage, filter);
      console.log(options.json ? JSON.stringify(counts) : formatCounts(counts));
    } else {
      const runs = await listRuns(storage, filter);
      console.log(options.json ? JSON.stringify(runs.map(toJson)) : formatRuns(runs, Date.now()));
    }
  } finally {
    await storage.close();
  }
}

interface ListedRun {
  run: RunRecord;
  /** Failed attempts, of the run and of its steps. */
  failures: number;
}

async function listRuns(storage: Storage, filter: RunFilter): Promise<ListedRun[]> {
  const runs = await storage.listRuns(filter);
  return Promise.all(runs.map(async (run) => ({ run, failures: await failedAttempts(storage, run) })));
}

function formatRuns(runs: ListedRun[], now: number): string {
  if (runs.length === 0) return "no runs match";
  const header = ["ID", "INTEGRATION", "STATUS", "FAILURES", "LAST ERROR", "CREATED"];
  const rows = runs.map((listed) => toRow(listed, now));
  return formatTable(header, rows);
}

/**
 * Every status, in the order a run moves through them, zero included, so a script can read `.dead` without
 * checking that it is there; with a status filter, that status alone.
 */
async function countRuns(storage: Storage, filter: RunFilter): Promise<Partial<Record<RunStatus, number>>> {
  const stored = await storage.countRunsByStatus(
    filter.integrationId === undefined ? {} : { integrationId: filter.integrationId },
  );
  const statuses = filter.status === undefined ? runStatuses : [filter.status];
  return Object.fromEntries(statuses.map((status) => [status, stored[status] ?? 0]));
}

/** The statuses that have runs, and the total. */
function formatCounts(counts: Partial<Record<RunStatus, number>>): string {
  const rows = Object.entries(counts)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => [status, String(count)]);
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  return formatTable(["STATUS", "RUNS"], [...rows, ["total", String(total)]]);
}

/**
 * A run's own `failures` counts only attempts that failed outside a step (lost
 * leases); failed step attempts are counted on the steps. An operator wants both.
 */
async function failedAttempts(storage: Storage, run: RunRecord): Promise<number> {
  const steps = await storage.listSteps(run.id);
  return steps.reduce((sum, step) => sum + step.failures, run.failures);
}

function toJson({ run, failures }: ListedRun): RunJson {
  const iso = (epochMs: number) => new Date(epochMs).toISOString();
  return {
    id: run.id,
    integrationId: run.integrationId,
    eventId: run.eventId,
    status: run.status,
    failures,
    lastError: run.lastError,
    concurrencyKey: run.concurrencyKey,
    waitingOn: run.waitingOn,
    createdAt: iso(run.createdAt),
    startedAt: run.startedAt === null ? null : iso(run.startedAt),
    finishedAt: run.finishedAt === null ? null : iso(run.finishedAt),
    availableAt: iso(run.availableAt),
  };
}

function toRow({ run, failures }: ListedRun, now: number): string[] {
  return [
    run.id,
    run.integrationId,
    run.status,
    String(failures),
    firstLine(run.lastError ?? ""),
    formatLocalTimeWithAge(run.createdAt, now),
  ];
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > errorWidth ? `${line.slice(0, errorWidth - 1)}…` : line;
}
