import type { Finding, ReconcileReport, ReportFinding } from "../storage/reconcile-store.ts";

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
const parsed = (json: string | null): unknown => (json === null ? null : JSON.parse(json));

/** A report as the API and `tenon reconcile report --json` show it (times in ISO 8601). */
export function reportToJson(report: ReconcileReport) {
  return {
    reconciliation: report.reconciliationId,
    number: report.number,
    runId: report.runId,
    dryRun: report.dryRun,
    status: report.status,
    pass: report.pass,
    since: iso(report.since),
    merge: report.merge,
    mergeNote: report.mergeNote,
    startedAt: iso(report.startedAt),
    finishedAt: iso(report.finishedAt),
    counts: report.counts,
  };
}

/** One finding of a report: both records' compared values and what `show` picked, redacted. */
export function reportFindingToJson(finding: ReportFinding) {
  return {
    id: finding.id,
    type: finding.type,
    key: finding.key,
    field: finding.field,
    left: parsed(finding.leftJson),
    right: parsed(finding.rightJson),
  };
}

/** A finding with its life across runs. */
export function findingToJson(finding: Finding) {
  return {
    ...reportFindingToJson(finding),
    firstSeenAt: iso(finding.firstSeenAt),
    lastSeenAt: iso(finding.lastSeenAt),
    resolvedAt: iso(finding.resolvedAt),
    occurrence: finding.occurrence,
    repairRequestedAt: iso(finding.repairRequestedAt),
    repairRequestedBy: finding.repairRequestedBy,
  };
}
