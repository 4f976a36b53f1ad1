import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { apiGet, apiPost } from "../api/client.ts";
import { live, pollMs, usePageTitle } from "../api/live.ts";
import type {
  OpenFinding,
  ReconcileReport,
  ReconciliationListing,
  RepairOutcome,
} from "../api/reconciliation-types.ts";
import { canOperate, useSession } from "../api/session.ts";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { EmptyState, ErrorNotice, LoadingRows } from "../components/Notices.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { Time } from "../components/Time.tsx";
import { formatDuration, toEpochMs } from "../format/time.ts";
import { FindingSides } from "./reconciliations/FindingSides.tsx";
import { describeFinding } from "./reconciliations/findings.ts";
import { modeWords, reconciliationsQuery, reportPath } from "./reconciliations/queries.ts";
import { ReportFigures } from "./reconciliations/ReportFigures.tsx";
import { ReportStatus } from "./reconciliations/ReportStatus.tsx";
import { RunButtons } from "./reconciliations/RunButtons.tsx";
import "./reconciliations/reconciliations.css";

/** Open findings shown at once, in key order; the API gives up to 1,000. */
const findingsShown = 200;
const reportsShown = 20;

/**
 * One reconciliation: its newest report, the findings still open (both records side by side, first and last
 * seen, what was repaired) and its earlier reports. Operators start a run or a dry run, and pick findings to
 * repair (`POST /api/reconciliations/:id/findings/repair`, in the operator log; each finding is repaired once).
 */
export function ReconciliationDetailPage({ id }: { id: string }) {
  usePageTitle(`Reconciliation ${id}`);
  const session = useSession();
  const list = useQuery({ ...reconciliationsQuery, ...live });
  const reconciliation = list.data?.reconciliations.find((candidate) => candidate.id === id);

  if (list.error) return <ErrorNotice error={list.error} title="Reconciliations could not be listed" />;
  if (!list.data) return <div className="page-loading" aria-busy="true" />;
  if (!reconciliation) {
    return (
      <EmptyState title={`No reconciliation ${id}`}>
        <p>
          This deployment does not configure it (any more). See the <Link href="/reconciliations">reconciliations</Link>{" "}
          it has.
        </p>
      </EmptyState>
    );
  }
  const operator = canOperate(session.role);
  const report = reconciliation.latestReport;
  return (
    <>
      <div className="page-head">
        <h1>{reconciliation.id}</h1>
        <p className="page-head-meta">
          <span className="badge badge-idle">{reconciliation.mode}</span>
          <span className="muted">
            {modeWords[reconciliation.mode]} ·{" "}
            {reconciliation.schedule ? `runs on ${reconciliation.schedule}` : "runs on demand"}
            {reconciliation.fields.length > 0 && ` · compares ${reconciliation.fields.join(", ")}`}
          </span>
        </p>
      </div>
      {operator && <RunButtons id={reconciliation.id} mode={reconciliation.mode} />}

      <section className="section" aria-labelledby="newest-report">
        <h2 id="newest-report">
          {report ? (
            <>
              Newest report: <Link href={reportPath(reconciliation.id, report.number)}>report {report.number}</Link>{" "}
              <ReportStatus status={report.status} dryRun={report.dryRun} />
            </>
          ) : (
            "Newest report"
          )}
        </h2>
        {report ? (
          <>
            <p className="muted report-when">
              Started <Time at={report.startedAt} />
              {report.finishedAt && (
                <>
                  {" "}
                  · ended <Time at={report.finishedAt} ageOnly />
                </>
              )}
            </p>
            <ReportFigures report={report} />
          </>
        ) : (
          <EmptyState title="No run yet">
            <p>
              {reconciliation.schedule
                ? `It runs on its schedule (${reconciliation.schedule}); `
                : "It has no schedule; "}
              {operator
                ? "Run now compares the two systems, and a dry run does so without changing anything."
                : `an operator can start a run from here, or with tenon reconcile run ${reconciliation.id}.`}
            </p>
          </EmptyState>
        )}
      </section>

      <OpenFindings reconciliation={reconciliation} operator={operator} />
      <Reports reconciliation={reconciliation} />
    </>
  );
}

function OpenFindings({ reconciliation, operator }: { reconciliation: ReconciliationListing; operator: boolean }) {
  const queryClient = useQueryClient();
  const path = `/api/reconciliations/${encodeURIComponent(reconciliation.id)}`;
  const findings = useQuery({
    queryKey: ["reconciliations", reconciliation.id, "findings"],
    queryFn: () => apiGet<{ findings: OpenFinding[] }>(`${path}/findings`, { limit: findingsShown }),
    ...live,
  });
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set<string>());
  const repair = useMutation({
    mutationFn: (findingIds: string[]) =>
      apiPost<{ repairs: RepairOutcome[] }>(`${path}/findings/repair`, { findingIds }),
    onSuccess: () => setSelected(new Set<string>()),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["reconciliations"] }),
  });
  const open = findings.data?.findings ?? [];
  const repairable = (finding: OpenFinding) =>
    reconciliation.mode !== "report" && reconciliation.repairs.includes(finding.type);
  const canSelect = operator && reconciliation.mode !== "report" && reconciliation.repairs.length > 0;
  // Findings resolved since they were ticked are no longer open: only what is still on screen is sent.
  const chosen = open.filter((finding) => selected.has(finding.id)).map((finding) => finding.id);
  const selectable = open.filter(repairable);
  const toggle = (findingId: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(findingId);
    else next.delete(findingId);
    setSelected(next);
  };

  return (
    <section className="section" aria-labelledby="open-findings">
      <h2 id="open-findings">
        Open findings <span className="muted">({reconciliation.openFindings})</span>
      </h2>
      {reconciliation.mode === "report" && reconciliation.openFindings > 0 && (
        <p className="notice">
          This reconciliation only reports (repair mode "report"): to repair from here, set repair.mode to "approve" (or
          "auto") in its definition.
        </p>
      )}
      {canSelect && open.length > 0 && (
        <section className="actions" aria-label="Repair">
          <button
            type="button"
            className="button"
            disabled={selectable.length === 0}
            onClick={() =>
              setSelected(
                chosen.length === selectable.length ? new Set<string>() : new Set(selectable.map((f) => f.id)),
              )
            }
          >
            {chosen.length === selectable.length && chosen.length > 0 ? "Select none" : "Select all repairable"}
          </button>
          <ConfirmButton
            label={`Repair selected (${chosen.length})`}
            title={`Repair ${chosen.length} finding(s)?`}
            confirmLabel="Repair"
            className="button button-primary"
            disabled={chosen.length === 0 || repair.isPending}
            onConfirm={() => repair.mutate(chosen)}
          >
            <p>
              Each finding gets a repair run of its own, with an idempotency key derived from the finding: one already
              repaired is not repaired again. The next run shows whether it is fixed. This is written to the operator
              log as yours.
            </p>
          </ConfirmButton>
          <div className="action-results" aria-live="polite">
            {repair.isSuccess && <RepairAnswer repairs={repair.data.repairs} />}
            {repair.isError && <ErrorNotice error={repair.error} title="Repair refused" />}
          </div>
        </section>
      )}
      {findings.error && <ErrorNotice error={findings.error} title="The open findings could not be read" />}
      {findings.isPending && <div className="findings-loading" aria-busy="true" />}
      {findings.data && open.length === 0 && (
        <EmptyState title="No open finding">
          <p>
            {!reconciliation.latestReport
              ? "Findings appear here once a run has compared the two systems."
              : reconciliation.latestReport.dryRun
                ? "A dry run opens no finding: what the newest one found is in its report; Run now opens them."
                : "The two systems agreed at the last run, or every finding has been fixed since."}
          </p>
        </EmptyState>
      )}
      {open.length > 0 && (
        <>
          <p className="hint">
            Compared values are shown after their normalisers (money in minor units, times in epoch ms).
            {reconciliation.openFindings > open.length &&
              ` The first ${open.length} of ${reconciliation.openFindings} by key.`}
          </p>
          <ol className="findings">
            {open.map((finding) => (
              <li key={finding.id} className="finding" data-type={finding.type}>
                <div className="finding-head">
                  {canSelect && repairable(finding) ? (
                    <label className="finding-select">
                      <input
                        type="checkbox"
                        checked={selected.has(finding.id)}
                        onChange={(event) => toggle(finding.id, event.target.checked)}
                      />
                      <span>
                        {describeFinding(finding)}: <span className="mono">{finding.key}</span>
                      </span>
                    </label>
                  ) : (
                    <span className="finding-title">
                      {describeFinding(finding)}: <span className="mono">{finding.key}</span>
                    </span>
                  )}
                </div>
                <FindingSides finding={finding} />
                <p className="finding-life muted">
                  First seen <Time at={finding.firstSeenAt} /> · last seen <Time at={finding.lastSeenAt} ageOnly />
                  {finding.occurrence > 1 && ` · came back after a fix (occurrence ${finding.occurrence})`}
                  {" · "}
                  <RepairState finding={finding} reconciliation={reconciliation} />
                </p>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

function RepairState({ finding, reconciliation }: { finding: OpenFinding; reconciliation: ReconciliationListing }) {
  if (finding.repairRequestedAt) {
    return (
      <span className="repair-state">
        repair requested by {finding.repairRequestedBy ?? "someone"} <Time at={finding.repairRequestedAt} ageOnly />
      </span>
    );
  }
  if (!reconciliation.repairs.includes(finding.type)) return <span>no repair for this kind: someone must look</span>;
  if (reconciliation.mode === "report") return <span>not repaired: this reconciliation only reports</span>;
  if (reconciliation.mode === "auto") return <span>not repaired yet: the next run repairs it</span>;
  return <span>not repaired: waiting for an operator</span>;
}

function RepairAnswer({ repairs }: { repairs: RepairOutcome[] }) {
  const requested = repairs.filter((r) => r.status === "requested").length;
  const already = repairs.filter((r) => r.status === "already_requested").length;
  const skipped = repairs.filter((r): r is Extract<RepairOutcome, { status: "skipped" }> => r.status === "skipped");
  return (
    <div className={`notice ${skipped.length > 0 ? "" : "notice-good"}`}>
      <p>
        {requested} repair(s) requested, {already} already requested before, {skipped.length} skipped. The next run
        shows what is fixed.
      </p>
      {skipped.length > 0 && (
        <ul className="plain-list">
          {skipped.map((outcome) => (
            <li key={outcome.findingId}>{outcome.reason}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Reports({ reconciliation }: { reconciliation: ReconciliationListing }) {
  const reports = useQuery({
    queryKey: ["reconciliations", reconciliation.id, "reports"],
    queryFn: () =>
      apiGet<{ reports: ReconcileReport[] }>(`/api/reconciliations/${encodeURIComponent(reconciliation.id)}/reports`, {
        limit: reportsShown,
      }),
    refetchInterval: pollMs,
    placeholderData: keepPreviousData,
  });
  if (reports.data?.reports.length === 0) return null;
  return (
    <section className="section" aria-labelledby="reports">
      <h2 id="reports">Reports</h2>
      {reports.error && <ErrorNotice error={reports.error} title="The reports could not be listed" />}
      <ScrollBox>
        <table className="table reports-table">
          <thead>
            <tr>
              <th scope="col">Report</th>
              <th scope="col">Started</th>
              <th scope="col" className="num secondary">
                Took
              </th>
              <th scope="col" className="num">
                Matched
              </th>
              <th scope="col" className="num">
                Missing
              </th>
              <th scope="col" className="num">
                Mismatched
              </th>
              <th scope="col" className="num secondary">
                New · resolved
              </th>
              <th scope="col" className="num secondary">
                Repairs
              </th>
            </tr>
          </thead>
          <tbody>
            {reports.isPending && <LoadingRows columns={8} rows={3} />}
            {reports.data?.reports.map((report) => {
              const counts = report.counts;
              const started = toEpochMs(report.startedAt);
              const finished = toEpochMs(report.finishedAt);
              return (
                <tr key={report.number}>
                  <th scope="row">
                    <Link href={reportPath(reconciliation.id, report.number)}>{report.number}</Link>{" "}
                    <ReportStatus status={report.status} dryRun={report.dryRun} />
                  </th>
                  <td>
                    <Time at={report.startedAt} />
                  </td>
                  <td className="num secondary">
                    {started !== null && finished !== null ? formatDuration(finished - started) : "—"}
                  </td>
                  <td className="num">{counts?.matched ?? "—"}</td>
                  <td className="num">{counts ? counts.missingLeft + counts.missingRight : "—"}</td>
                  <td className="num">{counts?.mismatched ?? "—"}</td>
                  <td className="num secondary">
                    {counts && !report.dryRun ? `${counts.newFindings ?? 0} · ${counts.resolvedFindings ?? 0}` : "—"}
                  </td>
                  <td className="num secondary">
                    {counts?.repairsRequested === undefined
                      ? "—"
                      : report.dryRun
                        ? `would ${counts.repairsRequested}`
                        : counts.repairsRequested}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </ScrollBox>
    </section>
  );
}
