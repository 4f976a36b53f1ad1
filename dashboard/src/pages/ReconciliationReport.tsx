import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { Link } from "wouter";
import { ApiError, apiGet } from "../api/client.ts";
import { usePageTitle } from "../api/live.ts";
import type { FindingType, ReconcileReport, ReportCounts, ReportFinding } from "../api/reconciliation-types.ts";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { Time } from "../components/Time.tsx";
import { FindingSides } from "./reconciliations/FindingSides.tsx";
import { describeFinding, findingTypeLabels } from "./reconciliations/findings.ts";
import { reconciliationPath } from "./reconciliations/queries.ts";
import { ReportFigures } from "./reconciliations/ReportFigures.tsx";
import { ReportStatus } from "./reconciliations/ReportStatus.tsx";
import "./reconciliations/reconciliations.css";

const pageSize = 50;
/** A report still running is followed closely: someone just started it. */
const runningPollMs = 2000;

/** One reconciliation run's report: its counts and its findings, both records side by side, a page at a time. */
export function ReconciliationReportPage({ id, number }: { id: string; number: string }) {
  usePageTitle(`${id} report ${number}`);
  const [type, setType] = useState<FindingType | "">("");
  const [offset, setOffset] = useState(0);
  const typeId = useId();
  const report = useQuery({
    queryKey: ["reconciliations", id, "report", number, type, offset],
    queryFn: () =>
      apiGet<{ report: ReconcileReport & { findings: ReportFinding[] } }>(
        `/api/reconciliations/${encodeURIComponent(id)}/reports/${encodeURIComponent(number)}`,
        { type, limit: pageSize, offset },
      ),
    refetchInterval: (query) => (query.state.data?.report.status === "running" ? runningPollMs : false),
    placeholderData: keepPreviousData,
  });

  if (report.error) {
    if (report.error instanceof ApiError && report.error.status === 404) {
      return (
        <EmptyState title={`No report ${number} of ${id}`}>
          <p>
            See the reports on <Link href={reconciliationPath(id)}>{id}</Link>'s page, or all{" "}
            <Link href="/reconciliations">reconciliations</Link>.
          </p>
        </EmptyState>
      );
    }
    return <ErrorNotice error={report.error} title="The report could not be read" />;
  }
  if (!report.data) return <div className="page-loading" aria-busy="true" />;

  const shown = report.data.report;
  const total = shown.counts ? findingsOfType(shown.counts, type) : null;
  return (
    <>
      <div className="page-head">
        <h1>
          <Link href={reconciliationPath(id)}>{id}</Link> · report {shown.number}
        </h1>
        <p className="page-head-meta">
          <ReportStatus status={shown.status} dryRun={shown.dryRun} />
          <span className="muted">
            started <Time at={shown.startedAt} />
            {shown.finishedAt && (
              <>
                {" "}
                · ended <Time at={shown.finishedAt} ageOnly />
              </>
            )}{" "}
            · run{" "}
            <Link href={`/runs/${shown.runId}`} className="mono">
              {shown.runId}
            </Link>
          </span>
        </p>
      </div>
      <ReportFigures report={shown} />

      <section className="section" aria-labelledby="report-findings">
        <h2 id="report-findings">Findings of this run</h2>
        <div className="filter-row">
          <div className="field">
            <label htmlFor={typeId}>Show</label>
            <select
              id={typeId}
              value={type}
              onChange={(event) => {
                setType(event.target.value as FindingType | "");
                setOffset(0);
              }}
            >
              <option value="">Every finding</option>
              {(Object.keys(findingTypeLabels) as FindingType[]).map((value) => (
                <option key={value} value={value}>
                  {findingTypeLabels[value]}
                </option>
              ))}
            </select>
          </div>
        </div>
        {shown.findings.length === 0 ? (
          <EmptyState title={shown.status === "running" ? "Still comparing" : "Nothing found"}>
            <p>
              {shown.status === "running"
                ? "The findings appear when the run has compared both sides."
                : type
                  ? "No finding of this kind in this run."
                  : "Every record had its counterpart, with the same compared fields."}
            </p>
          </EmptyState>
        ) : (
          <>
            <p className="hint">
              Compared values are shown after their normalisers (money in minor units, times in epoch ms). Whether a
              finding is still open, and what was repaired, is on <Link href={reconciliationPath(id)}>{id}</Link>'s
              page.
            </p>
            <ol className="findings">
              {shown.findings.map((finding) => (
                <li key={finding.id} className="finding" data-type={finding.type}>
                  <div className="finding-head">
                    <span className="finding-title">
                      {describeFinding(finding)}: <span className="mono">{finding.key}</span>
                    </span>
                  </div>
                  <FindingSides finding={finding} />
                </li>
              ))}
            </ol>
          </>
        )}
        {(offset > 0 || shown.findings.length === pageSize) && (
          <nav className="pager" aria-label="Findings pages">
            <button
              type="button"
              className="button"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - pageSize))}
            >
              ← Previous
            </button>
            <span className="muted">
              {offset + 1}–{offset + shown.findings.length}
              {total !== null && ` of ${total}`}
            </span>
            <button
              type="button"
              className="button"
              disabled={shown.findings.length < pageSize || (total !== null && offset + pageSize >= total)}
              onClick={() => setOffset(offset + pageSize)}
            >
              Next →
            </button>
          </nav>
        )}
      </section>
    </>
  );
}

/** How many findings of a type (or all) a report holds: one per missing key, one per differing field. */
function findingsOfType(counts: ReportCounts, type: FindingType | ""): number {
  const mismatches = Object.values(counts.mismatchedByField).reduce((sum, n) => sum + n, 0);
  if (type === "missing_left") return counts.missingLeft;
  if (type === "missing_right") return counts.missingRight;
  if (type === "mismatch") return mismatches;
  return counts.missingLeft + counts.missingRight + mismatches;
}
