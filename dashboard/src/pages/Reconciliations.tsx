import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { live, usePageTitle } from "../api/live.ts";
import type { ReconciliationListing } from "../api/reconciliation-types.ts";
import { EmptyState, ErrorNotice, LoadingRows } from "../components/Notices.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { Time } from "../components/Time.tsx";
import { modeWords, reconciliationPath, reconciliationsQuery, reportPath } from "./reconciliations/queries.ts";
import { ReportStatus } from "./reconciliations/ReportStatus.tsx";
import "./reconciliations/reconciliations.css";

/**
 * The reconciliations of this deployment: do two systems agree? Each with its newest report's counts and the
 * findings still open; each opens to its findings, its reports and, for operators, run and repair.
 */
export function Reconciliations() {
  usePageTitle("Reconciliations");
  const list = useQuery({ ...reconciliationsQuery, ...live });
  const reconciliations = list.data?.reconciliations;

  return (
    <>
      <div className="page-head">
        <h1>Reconciliations</h1>
      </div>
      {list.error && <ErrorNotice error={list.error} title="Reconciliations could not be listed" />}
      {reconciliations && reconciliations.length === 0 ? (
        <EmptyState title="No reconciliation is configured">
          <p>
            A reconciliation compares two systems' records by key (store orders and accounting invoices, say) and
            reports what is missing or different. Add one with defineReconciliation to the reconciliations of
            tenon.config.ts (docs/reconciliation.md), then restart.
          </p>
        </EmptyState>
      ) : (
        <ScrollBox>
          <table className="table reconciliations-table">
            <thead>
              <tr>
                <th scope="col">Reconciliation</th>
                <th scope="col">Newest report</th>
                <th scope="col" className="num">
                  Open findings
                </th>
                <th scope="col" className="num secondary">
                  Matched
                </th>
                <th scope="col" className="num secondary">
                  Missing
                </th>
                <th scope="col" className="num secondary">
                  Mismatched
                </th>
              </tr>
            </thead>
            <tbody>
              {list.isPending && <LoadingRows columns={6} rows={2} />}
              {reconciliations?.map((reconciliation) => (
                <ReconciliationRow key={reconciliation.id} reconciliation={reconciliation} />
              ))}
            </tbody>
          </table>
        </ScrollBox>
      )}
    </>
  );
}

function ReconciliationRow({ reconciliation }: { reconciliation: ReconciliationListing }) {
  const report = reconciliation.latestReport;
  const counts = report?.counts ?? null;
  return (
    <tr>
      <th scope="row">
        <Link href={reconciliationPath(reconciliation.id)}>{reconciliation.id}</Link>
        <span className="muted block">
          {reconciliation.schedule ? `on ${reconciliation.schedule}` : "on demand"} · {modeWords[reconciliation.mode]}
        </span>
      </th>
      <td>
        {report ? (
          <>
            <Link href={reportPath(reconciliation.id, report.number)}>Report {report.number}</Link>{" "}
            <ReportStatus status={report.status} dryRun={report.dryRun} />
            <span className="block">
              <Time at={report.finishedAt ?? report.startedAt} />
            </span>
          </>
        ) : (
          <span className="muted">no run yet</span>
        )}
      </td>
      <td className="num">
        <span className={`badge badge-${reconciliation.openFindings > 0 ? "bad" : "good"}`}>
          {reconciliation.openFindings}
        </span>
      </td>
      <td className="num secondary">{counts ? counts.matched : "—"}</td>
      <td className="num secondary">
        {counts ? (
          <>
            {counts.missingLeft + counts.missingRight}
            <span className="muted block">
              {counts.missingRight} right · {counts.missingLeft} left
            </span>
          </>
        ) : (
          "—"
        )}
      </td>
      <td className="num secondary">
        {counts ? (
          <>
            {counts.mismatched}
            {Object.entries(counts.mismatchedByField)
              .filter(([, n]) => n > 0)
              .map(([field, n]) => (
                <span key={field} className="muted block">
                  {field} {n}
                </span>
              ))}
          </>
        ) : (
          "—"
        )}
      </td>
    </tr>
  );
}
