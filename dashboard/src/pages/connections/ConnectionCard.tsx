import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type ReactNode, useId } from "react";
import { Link } from "wouter";
import { apiGet } from "../../api/client.ts";
import { live } from "../../api/live.ts";
import type {
  ConnectionActivity,
  ConnectionHealth,
  ConnectionIncident,
  ConnectionSummary,
  DriftIncident,
} from "../../api/types.ts";
import { HealthBadge } from "../../components/StatusBadge.tsx";
import { Time } from "../../components/Time.tsx";

/** Incidents are rare and listed newest first: the last few, asked for less often than the live figures. */
const incidentsShown = 5;
const incidentsRefreshMs = 15_000;
const driftShown = 3;

const incidentWords: Record<ConnectionIncident["kind"], string> = {
  auth_failed: "Credentials rejected",
  auth_restored: "Credentials restored",
  circuit_opened: "Circuit opened",
  circuit_closed: "Circuit closed",
  rate_limited: "Rate limited",
};

const driftWords: Record<DriftIncident["change"], string> = {
  added: "field added",
  removed: "field removed",
  type_changed: "type changed",
  became_nullable: "became nullable",
  presence_dropped: "often missing now",
};

interface ConnectionCardProps {
  connection: ConnectionSummary;
  verdict: ConnectionHealth | undefined;
  /** Its open drift findings; undefined while they load. */
  drift: DriftIncident[] | undefined;
  operator: boolean;
}

/** One connection: its verdict, what it is doing now and did in the last hour, its incidents and drift. */
export function ConnectionCard({ connection, verdict, drift, operator }: ConnectionCardProps) {
  const path = `/api/connections/${encodeURIComponent(connection.id)}`;
  const activity = useQuery({
    queryKey: ["connections", connection.id, "activity"],
    queryFn: () => apiGet<ConnectionActivity>(`${path}/activity`),
    ...live,
  });
  const incidents = useQuery({
    queryKey: ["connections", connection.id, "incidents"],
    queryFn: () => apiGet<{ incidents: ConnectionIncident[] }>(`${path}/incidents`, { limit: incidentsShown }),
    refetchInterval: incidentsRefreshMs,
    placeholderData: keepPreviousData,
  });
  const titleId = useId();

  return (
    <section
      className={`connection-card${verdict ? ` edge-${verdict.status}` : ""}`}
      aria-labelledby={titleId}
      data-connection={connection.id}
    >
      <div className="connection-head">
        <h2 id={titleId}>{connection.id}</h2>
        {verdict ? <HealthBadge status={verdict.status} /> : <span className="skeleton skeleton-inline" />}
        <span className="connection-url muted">{connection.baseUrl}</span>
      </div>
      <p className="reason connection-reason">{verdict?.reason ?? "\u00a0"}</p>
      <dl className="facts">
        <Fact label="Credentials">
          <Credentials connection={connection} operator={operator} />
        </Fact>
        <Fact label="Circuit">
          <Circuit circuit={connection.circuit} />
        </Fact>
        <Fact label="Rate limit">
          {verdict && verdict.rateLimit.waitMs > 0 ? (
            <>
              waiting until <Time at={verdict.rateLimit.until} />
            </>
          ) : (
            <span className="muted">not limited now</span>
          )}
        </Fact>
        <Fact label="Waits, last hour">
          <Waits activity={activity.data} />
        </Fact>
        <Fact label="Paused runs">
          <Held activity={activity.data} />
        </Fact>
        <Fact label="Failed requests">
          <Failures verdict={verdict} />
        </Fact>
      </dl>
      <div className="connection-lists">
        <div>
          <h3>Incidents</h3>
          <IncidentList incidents={incidents.data?.incidents} connection={connection} />
        </div>
        <div>
          <h3>API drift</h3>
          <DriftList findings={drift} />
        </div>
      </div>
    </section>
  );
}

/** A card's frame at about its final height while the list loads. */
export function ConnectionCardPlaceholder() {
  return (
    <div className="connection-card connection-card-placeholder" aria-busy="true">
      <span className="visually-hidden">Loading…</span>
      <span className="skeleton" />
    </div>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Credentials({ connection, operator }: { connection: ConnectionSummary; operator: boolean }) {
  const returnTo = encodeURIComponent("/connections");
  return (
    <>
      {connection.authType}: {connection.status.replace("_", " ")}
      {connection.statusReason && <span className="reason block">{connection.statusReason}</span>}
      {connection.expiresAt !== null && connection.authType !== "oauth2" && (
        <span className="muted block">
          expires <Time at={connection.expiresAt} />
        </span>
      )}
      {connection.authType === "oauth2" && operator && (
        <a
          className="button button-small fact-action"
          href={`/oauth/${encodeURIComponent(connection.id)}/start?return_to=${returnTo}`}
        >
          Re-authorise
        </a>
      )}
    </>
  );
}

function Circuit({ circuit }: { circuit: ConnectionSummary["circuit"] }) {
  return (
    <>
      {circuit.status.replace("_", "-")}
      {circuit.consecutiveFailures > 0 && (
        <span className="muted block">{circuit.consecutiveFailures} failures in a row</span>
      )}
      {circuit.reopenAt !== null && (
        <span className="muted block">
          probe <Time at={circuit.reopenAt} ageOnly />
        </span>
      )}
    </>
  );
}

/** Runs that waited for the connection (its rate limit, its open circuit) instead of using an attempt. */
function Waits({ activity }: { activity: ConnectionActivity | undefined }) {
  if (!activity) return <span className="skeleton skeleton-inline" />;
  const { waits, capped } = activity.lastHour;
  const { lastWait } = activity;
  return (
    <>
      {waits === 0 ? <span className="muted">none</span> : `${waits}${capped ? " or more" : ""} run wait(s)`}
      {lastWait && (
        <span className="muted block">
          last{" "}
          <Link href={`/runs/${lastWait.runId}`}>
            <Time at={lastWait.at} ageOnly />
          </Link>
          {lastWait.reason && <span className="reason block clamp">{lastWait.reason}</span>}
        </span>
      )}
      {activity.held.waiting > 0 && <span className="block">{activity.held.waiting} waiting now</span>}
    </>
  );
}

/** Paused for rejected credentials, and the newest resume: after re-authorising, the count is seen going down. */
function Held({ activity }: { activity: ConnectionActivity | undefined }) {
  if (!activity) return <span className="skeleton skeleton-inline" />;
  const { paused } = activity.held;
  const { lastResume } = activity;
  return (
    <>
      <span className={`fact-figure${paused > 0 ? " fact-figure-bad" : ""}`} data-paused={paused}>
        {paused > 0 ? <Link href="/runs?status=paused">{paused}</Link> : 0}
      </span>
      {lastResume && (
        <span className="muted block">
          {lastResume.runs} resumed <Time at={lastResume.at} ageOnly />
          {lastResume.reason && `: ${lastResume.reason}`}
        </span>
      )}
    </>
  );
}

/** The newest run of failed requests: failing since when, or recovered when, and the last failed request. */
function Failures({ verdict }: { verdict: ConnectionHealth | undefined }) {
  if (!verdict) return <span className="skeleton skeleton-inline" />;
  const { failures, lastError } = verdict;
  const count = failures ? `${failures.count}${failures.capped ? " or more" : ""}` : "";
  return (
    <>
      {!failures ? (
        <span className="muted">none recently</span>
      ) : failures.recoveredAt === null ? (
        <>
          {count} in a row since <Time at={failures.since} />
        </>
      ) : (
        <>
          {count}, recovered <Time at={failures.recoveredAt} ageOnly />
        </>
      )}
      {lastError && (
        <span className="muted block">
          last: {lastError.status ?? "no answer"} {lastError.method} <Time at={lastError.at} ageOnly />
          {lastError.error && <span className="reason block clamp">{lastError.error}</span>}
        </span>
      )}
    </>
  );
}

function IncidentList({
  incidents,
  connection,
}: {
  incidents: ConnectionIncident[] | undefined;
  connection: ConnectionSummary;
}) {
  if (!incidents) return <span className="skeleton" />;
  if (incidents.length === 0) return <p className="muted">None recorded: no rejected credentials, no open circuit.</p>;
  // An incident is still going on when it is the newest of its kind and the state it opened is still the state.
  const newestAuth = incidents.find((i) => i.kind === "auth_failed" || i.kind === "auth_restored");
  const newestCircuit = incidents.find((i) => i.kind === "circuit_opened" || i.kind === "circuit_closed");
  const ongoing = (incident: ConnectionIncident) =>
    (incident === newestAuth && incident.kind === "auth_failed" && connection.status === "auth_failed") ||
    (incident === newestCircuit && incident.kind === "circuit_opened" && connection.circuit.status !== "closed");
  return (
    <ul className="plain-list incident-list">
      {incidents.map((incident) => (
        <li key={incident.id}>
          <strong>{incidentWords[incident.kind]}</strong>{" "}
          {ongoing(incident) && <span className="badge badge-bad">ongoing</span>} <Time at={incident.at} />
          <span className="reason block clamp">{incident.detail}</span>
        </li>
      ))}
    </ul>
  );
}

function DriftList({ findings }: { findings: DriftIncident[] | undefined }) {
  if (!findings) return <span className="skeleton" />;
  if (findings.length === 0) return <p className="muted">No open finding: the API answers as Tenon learned it.</p>;
  return (
    <>
      <ul className="plain-list incident-list">
        {findings.slice(0, driftShown).map((finding) => (
          <li key={finding.id}>
            <code>{finding.fieldPath}</code> {driftWords[finding.change]}
            {finding.breaking && (
              <>
                {" "}
                <span className="badge badge-bad">breaking</span>
              </>
            )}
            <span className="muted block">
              {finding.method} {finding.routeTemplate} → {finding.status} · seen {finding.seenCount} time(s) since{" "}
              <Time at={finding.detectedAt} ageOnly />
            </span>
          </li>
        ))}
      </ul>
      {findings.length > driftShown && (
        <p className="muted">
          and {findings.length - driftShown} more (<code>GET /api/drift?open=true</code>, docs/drift.md)
        </p>
      )}
    </>
  );
}
