import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { apiGet } from "../api/client.ts";
import { live, usePageTitle } from "../api/live.ts";
import { healthQuery } from "../api/queries.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { ConnectionHealth, ConnectionSummary, DriftIncident } from "../api/types.ts";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { ConnectionCard, ConnectionCardPlaceholder } from "./connections/ConnectionCard.tsx";

/** Drift findings change slowly (the learner writes them every few seconds at most): asked for less often. */
const driftRefreshMs = 15_000;

/**
 * Each connection's credentials, circuit and rate limit, the runs it holds and its last hour, its incidents and
 * drift findings, with the health verdict and a way to re-authorise. Polled: after re-authorising, the paused
 * runs are seen going back to work.
 */
export function Connections() {
  usePageTitle("Connections");
  const session = useSession();
  const list = useQuery({
    queryKey: ["connections"],
    queryFn: () => apiGet<{ connections: ConnectionSummary[] }>("/api/connections"),
    ...live,
  });
  const health = useQuery({ ...healthQuery, ...live });
  const drift = useQuery({
    queryKey: ["drift", "open"],
    queryFn: () => apiGet<{ incidents: DriftIncident[] }>("/api/drift", { open: true, limit: 200 }),
    refetchInterval: driftRefreshMs,
    placeholderData: keepPreviousData,
  });
  const verdicts = new Map<string, ConnectionHealth>(health.data?.connections.map((c) => [c.id, c]) ?? []);
  const findings = new Map<string, DriftIncident[]>();
  for (const incident of drift.data?.incidents ?? []) {
    if (incident.kind !== "connection") continue;
    findings.set(incident.subject, [...(findings.get(incident.subject) ?? []), incident]);
  }

  return (
    <>
      <div className="page-head">
        <h1>Connections</h1>
      </div>
      {list.error && <ErrorNotice error={list.error} title="Connections could not be listed" />}
      {health.error && <ErrorNotice error={health.error} title="Health could not be read" />}
      {list.data && list.data.connections.length === 0 ? (
        <EmptyState title="No connection is configured">
          <p>
            Add one under <code>connections</code> in tenon.config.ts; integrations reach other systems through them.
          </p>
        </EmptyState>
      ) : (
        <div className="connection-cards">
          {list.isPending && [0, 1, 2].map((n) => <ConnectionCardPlaceholder key={n} />)}
          {list.data?.connections.map((connection) => (
            <ConnectionCard
              key={connection.id}
              connection={connection}
              verdict={verdicts.get(connection.id)}
              drift={drift.data ? (findings.get(connection.id) ?? []) : undefined}
              operator={canOperate(session.role)}
            />
          ))}
        </div>
      )}
    </>
  );
}
