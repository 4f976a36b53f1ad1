import { loadConfig } from "../../config/load-config.ts";
import { readSettings } from "../../config/settings.ts";
import { createEngine } from "../../engine/engine.ts";
import { createReconciliations, requestReconciliationRun, summaryOf } from "../../reconciliation/reconciliations.ts";
import { reportFindingToJson, reportToJson } from "../../reconciliation/report-json.ts";
import { ConfigurationError, ValidationError } from "../../sdk/errors.ts";
import type { Storage } from "../../storage/contract.ts";
import type { ReconcileReport, ReportFinding } from "../../storage/reconcile-store.ts";
import { cliUser, recordCliAction } from "../cli-operator-log.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage, withMigratedStorage } from "../storage-from-settings.ts";

export interface ReconcileRunOptions {
  config: string;
  dryRun?: boolean;
  /** A full pass even for an incremental reconciliation. */
  full?: boolean;
  /** false: start the run and return (its report comes later: `tenon reconcile report`). */
  wait?: boolean;
  /** How long to wait for the run, in ms. */
  timeoutMs: number;
  json?: boolean;
}

export interface ReconcileReportOptions {
  json?: boolean;
  limit: number;
}

const pollMs = 500;

/**
 * `tenon reconcile run <id> [--dry-run]`: stores the run's event (a worker of `tenon start` runs it, as it runs
 * everything else), waits for the run to end, then prints its report.
 */
export async function reconcileRunCommand(id: string, options: ReconcileRunOptions): Promise<void> {
  const config = await loadConfig(options.config);
  const reconciliations = config.reconciliations ?? [];
  if (!reconciliations.some((reconciliation) => reconciliation.id === id)) {
    throw new ConfigurationError(
      `no reconciliation "${id}" in ${options.config}; declared: ${reconciliations.map((r) => r.id).join(", ") || "none (add them under reconciliations: [...])"}`,
    );
  }
  const storage = await openExistingStorage(readSettings());
  try {
    // An engine that only stores events: the run is executed by the workers of `tenon start`.
    const built = createReconciliations({
      reconciliations,
      storage,
      clock: { now: () => Date.now() },
      send: () => {
        throw new Error("this process only starts reconciliation runs");
      },
    });
    const engine = createEngine({ storage, integrations: built.integrations, worker: false });
    await engine.start();
    await storage.reconcile.saveReconciliations(reconciliations.map(summaryOf), Date.now());
    const dryRun = options.dryRun === true;
    const accepted = await requestReconciliationRun(engine.send, id, {
      dryRun,
      ...(options.full ? { full: true } : {}),
      requestedBy: `cli:${cliUser()}`,
    });
    await engine.stop();
    const runId = accepted.runIds[0] as string;
    await recordCliAction(storage, {
      action: "tenon reconcile run",
      target: id,
      detail: `${dryRun ? "dry run" : "run"}${options.full ? " (full pass)" : ""} ${runId}`,
    });
    if (options.wait === false) {
      console.log(
        `started ${dryRun ? "a dry run" : "a run"} of ${id}: run ${runId}; see \`tenon reconcile report ${id}\``,
      );
      return;
    }
    if (!options.json)
      console.error(`run ${runId} of ${id} is queued; waiting for a worker (\`tenon start\`) to run it…`);
    const run = await waitForRun(storage, runId, options.timeoutMs);
    if (run.status !== "succeeded") {
      throw new ValidationError(
        `run ${runId} of ${id} ended ${run.status}: ${run.lastError ?? "no error recorded"}; see \`tenon runs show ${runId}\``,
      );
    }
    const report = (await storage.reconcile.listReports(id, 20)).find((candidate) => candidate.runId === runId);
    if (!report) throw new Error(`run ${runId} ended without a report`);
    await printReport(storage, report, { json: options.json === true, limit: 100 });
  } finally {
    await storage.close();
  }
}

async function waitForRun(storage: Storage, runId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await storage.getRun(runId);
    if (run && ["succeeded", "failed", "dead"].includes(run.status)) return run;
    if (Date.now() > deadline) {
      throw new ValidationError(
        `run ${runId} has not ended after ${Math.round(timeoutMs / 1000)} s (it is ${run?.status ?? "unknown"}): is \`tenon start\` running on this database? The run goes on; see \`tenon runs show ${runId}\``,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** `tenon reconcile report <id> [n]`: the newest report (or report n), its counts and findings. */
export async function reconcileReportCommand(
  id: string,
  number: string | undefined,
  options: ReconcileReportOptions,
): Promise<void> {
  const wanted = number === undefined || number === "latest" ? "latest" : Number(number);
  if (wanted !== "latest" && !(Number.isSafeInteger(wanted) && wanted >= 1)) {
    throw new ValidationError(`a report is a number from 1 (or "latest"), not "${number}"`);
  }
  await withMigratedStorage(async (storage) => {
    const report = await storage.reconcile.getReport(id, wanted);
    if (!report) {
      const known = (await storage.reconcile.listReconciliations()).map((r) => r.id);
      throw new ValidationError(
        known.includes(id)
          ? `reconciliation "${id}" has no report ${wanted === "latest" ? "yet: run `tenon reconcile run " + id + "`" : wanted}`
          : `no reconciliation "${id}"; known: ${known.join(", ") || "none (has `tenon start` run with reconciliations in its config?)"}`,
      );
    }
    await printReport(storage, report, options);
  }, readSettings());
}

/** `tenon reconcile list`: the declared reconciliations, their open findings and newest report. */
export async function reconcileListCommand(options: { json?: boolean }): Promise<void> {
  await withMigratedStorage(async (storage) => {
    const [summaries, open] = await Promise.all([
      storage.reconcile.listReconciliations(),
      storage.reconcile.countOpenFindings(),
    ]);
    const openBy = new Map(open.map((count) => [count.reconciliationId, count.open]));
    const rows = await Promise.all(
      summaries.map(async (summary) => ({
        ...summary,
        openFindings: openBy.get(summary.id) ?? 0,
        latest: (await storage.reconcile.getReport(summary.id, "latest")) ?? null,
      })),
    );
    if (options.json) {
      const json = rows.map(({ latest, ...row }) => ({ ...row, latestReport: latest ? reportToJson(latest) : null }));
      console.log(JSON.stringify({ reconciliations: json }, null, 2));
      return;
    }
    if (rows.length === 0) {
      console.log("no reconciliations (declare them under reconciliations: [...] in tenon.config.ts)");
      return;
    }
    const now = Date.now();
    console.log(
      formatTable(
        ["ID", "SCHEDULE", "REPAIR", "OPEN FINDINGS", "LAST REPORT"],
        rows.map((row) => [
          row.id,
          row.schedule ?? "on demand",
          row.repairs.length === 0 ? "none" : `${row.mode}: ${row.repairs.join(", ")}`,
          String(row.openFindings),
          row.latest
            ? `#${row.latest.number} ${row.latest.status}${row.latest.dryRun ? " (dry run)" : ""}, ${formatLocalTimeWithAge(row.latest.startedAt, now)}`
            : "none",
        ]),
      ),
    );
  }, readSettings());
}

async function printReport(storage: Storage, report: ReconcileReport, options: ReconcileReportOptions): Promise<void> {
  const findings = await storage.reconcile.listReportFindings(report.runId, { limit: options.limit });
  if (options.json) {
    console.log(
      JSON.stringify({ report: { ...reportToJson(report), findings: findings.map(reportFindingToJson) } }, null, 2),
    );
    return;
  }
  console.log(describeReport(report));
  if (findings.length === 0) return;
  console.log("");
  console.log(
    formatTable(
      ["TYPE", "KEY", "FIELD", "LEFT", "RIGHT", "FINDING"],
      findings.map((finding) => [
        finding.type,
        finding.key,
        finding.field ?? "",
        sideText(finding, "left"),
        sideText(finding, "right"),
        finding.id,
      ]),
    ),
  );
  const total = findingCount(report);
  if (total > findings.length) console.log(`… ${total - findings.length} more; --limit or --json to see them`);
}

function describeReport(report: ReconcileReport): string {
  const title = `${report.reconciliationId} report #${report.number}${report.dryRun ? " (dry run)" : ""}: ${report.status}, started ${formatLocalTimeWithAge(report.startedAt, Date.now())}${report.finishedAt === null ? "" : `, took ${((report.finishedAt - report.startedAt) / 1000).toFixed(1)} s`}`;
  const c = report.counts;
  if (!c) return title;
  const byField = Object.entries(c.mismatchedByField)
    .filter(([, n]) => n > 0)
    .map(([field, n]) => `${field} ${n}`)
    .join(", ");
  const lines = [
    title,
    ...(report.pass === "incremental" && report.since !== null
      ? [`  incremental pass: records changed since ${formatLocalTimeWithAge(report.since, Date.now())}`]
      : []),
    ...(report.mergeNote ? [`  ${report.mergeNote}`] : []),
    `  records: ${c.leftRecords} on the left, ${c.rightRecords} on the right${c.unkeyedRecords ? ` (${c.unkeyedRecords} without a key, left out)` : ""}`,
    `  matched ${c.matched} · missing on the right ${c.missingRight} · missing on the left ${c.missingLeft} · mismatched ${c.mismatched}${byField ? ` (${byField})` : ""}`,
  ];
  if (c.newFindings !== undefined) lines.push(`  new findings ${c.newFindings} · resolved ${c.resolvedFindings ?? 0}`);
  if (c.repairsRequested !== undefined) {
    lines.push(`  repairs ${report.dryRun ? "it would request" : "requested"}: ${c.repairsRequested}`);
  }
  return lines.join("\n");
}

function findingCount(report: ReconcileReport): number {
  const c = report.counts;
  if (!c) return 0;
  return c.missingLeft + c.missingRight + Object.values(c.mismatchedByField).reduce((sum, n) => sum + n, 0);
}

/** A side of a finding in a cell: a mismatch's value, else what `show` picked of its first record. */
function sideText(finding: ReportFinding, side: "left" | "right"): string {
  const json = side === "left" ? finding.leftJson : finding.rightJson;
  if (json === null) return "—";
  const parsed = JSON.parse(json) as { value?: unknown; records: { shown: Record<string, unknown> }[] };
  if (parsed.value !== undefined) return JSON.stringify(parsed.value);
  const shown = parsed.records[0]?.shown ?? {};
  const text = Object.entries(shown)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return parsed.records.length > 1 ? `${text} (+${parsed.records.length - 1})` : text;
}
