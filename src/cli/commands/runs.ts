import { readSettings } from "../../config/settings.ts";
import type { RunFilter, RunRecord, Storage } from "../../storage/contract.ts";
import { formatTable } from "../format-table.ts";
import { isRunStatus } from "../run-statuses.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

const errorWidth = 80;

/** `tenon runs`: the most recent runs, newest first. */
export async function runsCommand(options: { status?: string; integration?: string; limit: number }): Promise<void> {
  const filter: RunFilter = { limit: options.limit };
  if (options.status !== undefined && isRunStatus(options.status)) filter.status = options.status;
  if (options.integration !== undefined) filter.integrationId = options.integration;
  const storage = await openExistingStorage(readSettings());
  let rows: string[][];
  try {
    const runs = await storage.listRuns(filter);
    rows = await Promise.all(runs.map(async (run) => toRow(run, await failedAttempts(storage, run))));
  } finally {
    await storage.close();
  }
  if (rows.length === 0) {
    console.log("no runs match");
    return;
  }
  const header = ["ID", "INTEGRATION", "STATUS", "FAILURES", "LAST ERROR", "CREATED"];
  console.log(formatTable(header, rows));
}

/**
 * A run's own `failures` counts only attempts that failed outside a step (lost
 * leases); failed step attempts are counted on the steps. An operator wants both.
 */
async function failedAttempts(storage: Storage, run: RunRecord): Promise<number> {
  const steps = await storage.listSteps(run.id);
  return steps.reduce((sum, step) => sum + step.failures, run.failures);
}

function toRow(run: RunRecord, failures: number): string[] {
  return [
    run.id,
    run.integrationId,
    run.status,
    String(failures),
    firstLine(run.lastError ?? ""),
    formatLocalTime(run.createdAt),
  ];
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > errorWidth ? `${line.slice(0, errorWidth - 1)}…` : line;
}

/** Local time, to the second: operators compare it with their wall clock, not with UTC logs. */
function formatLocalTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
