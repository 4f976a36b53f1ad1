import type { ReactNode } from "react";
import type { ReconcileReport } from "../../api/reconciliation-types.ts";

/**
 * A report's counts at a glance: what matched, what is missing on either side, which fields differ, and what
 * the run changed (findings new and resolved, repairs started; a dry run says what it would have started).
 */
export function ReportFigures({ report }: { report: ReconcileReport }) {
  const counts = report.counts;
  if (!counts) {
    return (
      <p className="notice">
        {report.status === "running"
          ? "This run is still comparing: its counts appear when it ends."
          : "This run ended without completing its report (it died or failed); start a new run."}
      </p>
    );
  }
  const byField = Object.entries(counts.mismatchedByField).filter(([, n]) => n > 0);
  return (
    <dl className="summary report-figures">
      <Figure label="Matched" tone={null}>
        {counts.matched}
      </Figure>
      <Figure label="Missing on the right" tone={counts.missingRight > 0 ? "bad" : "good"}>
        {counts.missingRight}
      </Figure>
      <Figure label="Missing on the left" tone={counts.missingLeft > 0 ? "bad" : "good"}>
        {counts.missingLeft}
      </Figure>
      <Figure label="Mismatched" tone={counts.mismatched > 0 ? "warn" : "good"}>
        {counts.mismatched}
        {byField.length > 0 && (
          <span className="figure-detail">{byField.map(([field, n]) => `${field} ${n}`).join(" · ")}</span>
        )}
      </Figure>
      <Figure label="Records compared" tone={null}>
        {counts.leftRecords} <span className="figure-unit">left</span> · {counts.rightRecords}{" "}
        <span className="figure-unit">right</span>
        {counts.unkeyedRecords ? <span className="figure-detail">{counts.unkeyedRecords} without a key</span> : null}
      </Figure>
      {report.dryRun ? (
        <Figure label="Repairs it would request" tone={null}>
          {counts.repairsRequested ?? 0}
          <span className="figure-detail">dry run: nothing settled or repaired</span>
        </Figure>
      ) : (
        <Figure label="New findings" tone={null}>
          {counts.newFindings ?? 0}
          <span className="figure-detail">
            {counts.resolvedFindings ?? 0} resolved
            {counts.repairsRequested !== undefined && ` · ${counts.repairsRequested} repair(s) requested`}
          </span>
        </Figure>
      )}
    </dl>
  );
}

function Figure({
  label,
  tone,
  children,
}: {
  label: string;
  tone: "good" | "bad" | "warn" | null;
  children: ReactNode;
}) {
  return (
    <div className={tone ? `figure figure-${tone}` : "figure"}>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}
