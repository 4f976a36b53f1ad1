import { readSettings } from "../../config/settings.ts";
import type { RunFilter, RunRecord, RunStatus, Storage } from "../../storage/contract.ts";
import { isRunStatus, runStatuses } from "../../storage/run-statuses.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage } from "../storage-from-settings.ts";
import { wrapText } from "../wrap-text.ts";

export interface RunsOptions {
  status?: string;
  integration?: string;
  /** How far back, in milliseconds (`--since 1h`): runs created this recently. */
  since?: number;
  /** Runs created before this time (epoch ms; `--until 2h` or an ISO time). */
  until?: number;
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
  if (options.since !== undefined) filter.createdSince = Date.now() - options.since;
  if (options.until !== undefined) filter.createdBefore = options.until;
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

/** One row per run; an unfinished or failed run's last error follows its row, whole, wrapped to the terminal. */
function formatRuns(runs: ListedRun[], now: number): string {
  if (runs.length === 0) return "no runs match";
  const header = ["ID", "INTEGRATION", "STATUS", "FAILURES", "CREATED"];
  const [headerLine, ...rowLines] = formatTable(
    header,
    runs.map((listed) => toRow(listed, now)),
  ).split("\n");
  const lines = [headerLine ?? ""];
  runs.forEach(({ run }, index) => {
    lines.push(rowLines[index] ?? "");
    if (run.lastError !== null) lines.push(...indented(`last error: ${run.lastError}`));
  });
  return lines.join("\n");
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
  return [run.id, run.integrationId, run.status, String(failures), formatLocalTimeWithAge(run.createdAt, now)];
}

/** Wrapped to the terminal's width (100 columns when not a terminal), two spaces in. */
function indented(text: string): string[] {
  const width = (process.stdout.columns ?? 100) - 2;
  return wrapText(text, width).map((line) => `  ${line}`);
}
