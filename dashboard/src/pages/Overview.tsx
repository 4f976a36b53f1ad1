import { useQuery } from "@tanstack/react-query";
import { Fragment, lazy, type ReactNode, Suspense } from "react";
import { Link } from "wouter";
import { live, usePageTitle } from "../api/live.ts";
import { firingAlertsQuery, healthQuery } from "../api/queries.ts";
import type { HealthReport, IntegrationHealth } from "../api/types.ts";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { HealthBadge } from "../components/StatusBadge.tsx";
import { Time } from "../components/Time.tsx";
import { useNow } from "../format/now.tsx";
import { formatDuration } from "../format/time.ts";
import { lastDay, lastHour, useThroughput } from "./overview/throughput.ts";

// uPlot loads beside the health tables, not before them: the first thing an operator reads is the verdicts.
const ActivityChart = lazy(() =>
  import("../components/ActivityChart.tsx").then((module) => ({ default: module.ActivityChart })),
);

/** Is data flowing? Health of every part, throughput and errors, firing alerts, the oldest queued run. */
export function Overview() {
  usePageTitle("Overview");
  const now = useNow();
  const health = useQuery({ ...healthQuery, ...live });
  const alerts = useQuery({ ...firingAlertsQuery, ...live });
  const hour = useThroughput(lastHour, now);
  const day = useThroughput(lastDay, now);
  const report = health.data;

  return (
    <>
      <div className="page-head">
        <h1>Overview</h1>
        {report && (
          <p className="page-head-meta">
            <HealthBadge status={report.status} /> <span className="muted">checked</span>{" "}
            <Time at={report.checkedAt} ageOnly />
          </p>
        )}
      </div>
      {health.error && <ErrorNotice error={health.error} title="Health could not be read" />}
      <Summary report={report} firing={alerts.data?.alerts.length} />

      <section aria-labelledby="activity-title" className="section">
        <h2 id="activity-title">Throughput and errors</h2>
        {(hour.error || day.error) && (
          <ErrorNotice error={hour.error ?? day.error} title="Throughput could not be read" />
        )}
        <div className="charts">
          <Suspense fallback={<ChartPlaceholder title={lastHour.label} />}>
            <ActivityChart title={lastHour.label} activity={hour.activity} />
          </Suspense>
          <Suspense fallback={<ChartPlaceholder title={lastDay.label} />}>
            <ActivityChart title={lastDay.label} activity={day.activity} />
          </Suspense>
        </div>
      </section>

      <section aria-labelledby="alerts-title" className="section">
        <h2 id="alerts-title">Firing alerts</h2>
        {alerts.error ? (
          <ErrorNotice error={alerts.error} />
        ) : alerts.data && alerts.data.alerts.length === 0 ? (
          <EmptyState title="No alert is firing">
            <p>
              Rules are set in the alerts section of tenon.config.ts; see the <Link href="/alerts">alerts</Link> page
              for past ones.
            </p>
          </EmptyState>
        ) : (
          <ul className="alert-list">
            {alerts.data?.alerts.map((alert) => (
              <li key={alert.fingerprint} className={`alert-item severity-${alert.severity}`}>
                <strong>{alert.summary}</strong>
                <span className="muted">
                  {" "}
                  {alert.rule} on {alert.subject} · since <Time at={alert.firstSeenAt} ageOnly />
                  {alert.acknowledgedBy && ` · acknowledged by ${alert.acknowledgedBy}`}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <HealthSections report={report} loading={health.isPending} />
    </>
  );
}

/** The chart's frame at its final size while uPlot loads, so nothing below it moves when it arrives. */
function ChartPlaceholder({ title }: { title: string }) {
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div className="chart-canvas chart-placeholder" />
    </figure>
  );
}

function Summary({ report, firing }: { report: HealthReport | undefined; firing: number | undefined }) {
  const integrations = report?.integrations ?? [];
  const backlog = integrations.reduce((sum, i) => sum + Object.values(i.runs).reduce((a, n) => a + (n ?? 0), 0), 0);
  const failedLastHour = integrations.reduce((sum, i) => sum + i.lastHour.failed + i.lastHour.dead, 0);
  const oldest = oldestQueued(integrations);
  const unhealthy = report
    ? [
        ...report.integrations,
        ...report.connections,
        ...report.webhookSources,
        ...report.polls,
        ...report.schedules,
      ].filter((part) => part.status !== "green").length
    : undefined;
  return (
    <dl className="summary">
      <Figure label="Needing attention" value={unhealthy} tone={unhealthy ? "bad" : "good"} />
      <Figure label="Runs in progress or waiting" value={report ? backlog : undefined} />
      <Figure
        label="Failed or dead, last hour"
        value={report ? failedLastHour : undefined}
        tone={failedLastHour ? "bad" : "good"}
        href={failedLastHour ? "/dead-letters" : undefined}
      />
      <Figure
        label="Firing alerts"
        value={firing}
        tone={firing ? "bad" : "good"}
        href={firing ? "/alerts" : undefined}
      />
      <Figure
        label="Oldest queued run"
        value={report ? (oldest ? formatDuration(oldest.ageMs) : "none") : undefined}
        href={oldest ? `/runs/${oldest.runId}` : undefined}
        tone={oldest && oldest.ageMs > 60_000 ? "warn" : undefined}
      />
    </dl>
  );
}

function Figure(props: {
  label: string;
  value: ReactNode;
  tone?: "good" | "bad" | "warn" | undefined;
  href?: string | undefined;
}) {
  const value = props.value ?? <span className="skeleton skeleton-inline" />;
  return (
    <div className={`figure ${props.tone ? `figure-${props.tone}` : ""}`}>
      <dt>{props.label}</dt>
      <dd>{props.href ? <Link href={props.href}>{value}</Link> : value}</dd>
    </div>
  );
}

function oldestQueued(integrations: IntegrationHealth[]) {
  let oldest: IntegrationHealth["oldestQueued"] = null;
  for (const integration of integrations) {
    if (integration.oldestQueued && (!oldest || integration.oldestQueued.ageMs > oldest.ageMs))
      oldest = integration.oldestQueued;
  }
  return oldest;
}

function HealthSections({ report, loading }: { report: HealthReport | undefined; loading: boolean }) {
  return (
    <section aria-labelledby="health-title" className="section">
      <h2 id="health-title">Health</h2>
      <HealthTable
        title="Integrations"
        loading={loading}
        empty="No integration is configured: add one to tenon.config.ts."
        columns={["Last hour", "Backlog"]}
        rows={report?.integrations.map((i) => ({
          key: i.id,
          name: <Link href={`/runs?integration=${encodeURIComponent(i.id)}`}>{i.id}</Link>,
          status: i.status,
          reason: i.reason,
          cells: [
            <Fragment key="hour">
              {i.lastHour.succeeded} ok · {i.lastHour.failed + i.lastHour.dead} failed
              {i.lastHour.successRate !== null && (
                <span className="muted"> · {Math.round(i.lastHour.successRate * 100)}%</span>
              )}
              {i.lastHour.p95DurationMs !== null && (
                <span className="muted"> · p95 {formatDuration(i.lastHour.p95DurationMs)}</span>
              )}
            </Fragment>,
            describeBacklog(i.runs),
          ],
        }))}
      />
      <HealthTable
        title="Connections"
        loading={loading}
        empty="No connection is configured."
        columns={["Auth", "Circuit", "Last error"]}
        rows={report?.connections.map((c) => ({
          key: c.id,
          name: <Link href="/connections">{c.id}</Link>,
          status: c.status,
          reason: c.reason,
          cells: [
            `${c.auth.type}: ${c.auth.status}`,
            c.circuit.status === "closed"
              ? "closed"
              : `${c.circuit.status} (${c.circuit.consecutiveFailures} failures)`,
            c.lastError ? (
              <Fragment key="error">
                {c.lastError.status ?? "no answer"} <Time at={c.lastError.at} ageOnly />
              </Fragment>
            ) : (
              <span key="error" className="muted">
                none
              </span>
            ),
          ],
        }))}
      />
      <HealthTable
        title="Webhook sources"
        loading={loading}
        empty="No webhook source is configured."
        columns={["Last event"]}
        rows={report?.webhookSources.map((s) => ({
          key: s.source,
          name: <Link href={`/events?source=${encodeURIComponent(s.source)}`}>{s.source}</Link>,
          status: s.status,
          reason: s.reason,
          cells: [<Time key="t" at={s.lastEventAt} />],
        }))}
      />
      <HealthTable
        title="Polls"
        loading={loading}
        empty="No poll is configured."
        columns={["Last success"]}
        rows={report?.polls.map((p) => ({
          key: p.id,
          name: p.id,
          status: p.status,
          reason: p.reason,
          cells: [<Time key="t" at={p.lastSuccessAt} />],
        }))}
      />
      <HealthTable
        title="Schedules"
        loading={loading}
        empty="No cron schedule is configured."
        columns={["Last tick", "Next tick"]}
        rows={report?.schedules.map((s) => ({
          key: s.integrationId,
          name: (
            <>
              {s.integrationId} <code className="muted">{s.cron}</code>
            </>
          ),
          status: s.status,
          reason: s.reason,
          cells: [<Time key="l" at={s.lastTickAt} />, <Time key="n" at={s.nextTickAt} />],
        }))}
      />
    </section>
  );
}

function describeBacklog(runs: IntegrationHealth["runs"]): string {
  const parts = Object.entries(runs)
    .filter(([, count]) => (count ?? 0) > 0)
    .map(([status, count]) => `${count} ${status}`);
  return parts.length ? parts.join(", ") : "none";
}

interface HealthRow {
  key: string;
  name: ReactNode;
  status: HealthReport["status"];
  reason: string;
  cells: ReactNode[];
}

function HealthTable(props: {
  title: string;
  loading: boolean;
  empty: string;
  columns: string[];
  rows: HealthRow[] | undefined;
}) {
  if (!props.loading && props.rows && props.rows.length === 0) {
    return (
      <div className="health-group">
        <h3>{props.title}</h3>
        <p className="muted">{props.empty}</p>
      </div>
    );
  }
  return (
    <div className="health-group">
      <h3>{props.title}</h3>
      <ScrollBox>
        <table className="table health-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
              {props.columns.map((column) => (
                <th scope="col" key={column} className="secondary">
                  {column}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.rows?.map((row) => (
              <tr key={row.key} data-health={row.status}>
                <th scope="row">{row.name}</th>
                <td>
                  <HealthBadge status={row.status} />
                </td>
                <td className="reason">{row.reason}</td>
                {row.cells.map((cell, index) => (
                  <td key={props.columns[index]} className="secondary">
                    {cell}
                  </td>
                ))}
              </tr>
            ))}
            {!props.rows && (
              <tr className="loading-row">
                <td colSpan={3 + props.columns.length}>
                  <span className="visually-hidden">Loading…</span>
                  <span className="skeleton" />
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </ScrollBox>
    </div>
  );
}
