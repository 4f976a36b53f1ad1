import { useQuery } from "@tanstack/react-query";
import { apiGet } from "../api/client.ts";
import { live, usePageTitle } from "../api/live.ts";
import { healthQuery } from "../api/queries.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { ConnectionHealth, ConnectionSummary } from "../api/types.ts";
import { EmptyState, ErrorNotice, LoadingRows } from "../components/Notices.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { HealthBadge } from "../components/StatusBadge.tsx";
import { Time } from "../components/Time.tsx";

/** Each connection's credentials, circuit and rate-limit state, with the health verdict and a way to re-authorise. */
export function Connections() {
  usePageTitle("Connections");
  const session = useSession();
  const list = useQuery({
    queryKey: ["connections"],
    queryFn: () => apiGet<{ connections: ConnectionSummary[] }>("/api/connections"),
    ...live,
  });
  const health = useQuery({ ...healthQuery, ...live });
  const verdicts = new Map<string, ConnectionHealth>(health.data?.connections.map((c) => [c.id, c]) ?? []);
  const returnTo = encodeURIComponent("/connections");

  return (
    <>
      <div className="page-head">
        <h1>Connections</h1>
      </div>
      {list.error && <ErrorNotice error={list.error} title="Connections could not be listed" />}
      {list.data && list.data.connections.length === 0 ? (
        <EmptyState title="No connection is configured">
          <p>
            Add one under <code>connections</code> in tenon.config.ts; integrations reach other systems through them.
          </p>
        </EmptyState>
      ) : (
        <ScrollBox>
          <table className="table connections-table">
            <thead>
              <tr>
                <th scope="col">Connection</th>
                <th scope="col">State</th>
                <th scope="col">Credentials</th>
                <th scope="col" className="secondary">
                  Circuit
                </th>
                <th scope="col" className="secondary">
                  Rate limit
                </th>
                <th scope="col" className="secondary">
                  Last failed request
                </th>
              </tr>
            </thead>
            <tbody>
              {list.isPending && <LoadingRows columns={6} />}
              {list.data?.connections.map((connection) => {
                const verdict = verdicts.get(connection.id);
                return (
                  <tr key={connection.id}>
                    <th scope="row">
                      {connection.id}
                      <span className="muted block connection-url">{connection.baseUrl}</span>
                    </th>
                    <td>
                      {verdict ? <HealthBadge status={verdict.status} /> : <span className="muted">…</span>}
                      {verdict && <span className="reason block">{verdict.reason}</span>}
                    </td>
                    <td>
                      {connection.authType}: {connection.status.replace("_", " ")}
                      {connection.statusReason && <span className="reason block">{connection.statusReason}</span>}
                      {connection.expiresAt !== null && connection.authType !== "oauth2" && (
                        <span className="muted block">
                          expires <Time at={connection.expiresAt} />
                        </span>
                      )}
                      {connection.authType === "oauth2" && canOperate(session.role) && (
                        <a
                          className="button button-small"
                          href={`/oauth/${encodeURIComponent(connection.id)}/start?return_to=${returnTo}`}
                        >
                          Re-authorise
                        </a>
                      )}
                    </td>
                    <td className="secondary">
                      {connection.circuit.status.replace("_", "-")}
                      {connection.circuit.consecutiveFailures > 0 && (
                        <span className="muted block">{connection.circuit.consecutiveFailures} failures in a row</span>
                      )}
                      {connection.circuit.reopenAt !== null && (
                        <span className="muted block">
                          probe <Time at={connection.circuit.reopenAt} ageOnly />
                        </span>
                      )}
                    </td>
                    <td className="secondary">
                      {verdict && verdict.rateLimit.waitMs > 0 ? (
                        <>
                          waiting until <Time at={verdict.rateLimit.until} />
                        </>
                      ) : (
                        <span className="muted">not limited now</span>
                      )}
                    </td>
                    <td className="secondary">
                      {verdict?.lastError ? (
                        <>
                          {verdict.lastError.status ?? "no answer"} {verdict.lastError.method}{" "}
                          <Time at={verdict.lastError.at} ageOnly />
                          {verdict.lastError.error && <span className="reason block">{verdict.lastError.error}</span>}
                        </>
                      ) : (
                        <span className="muted">none recently</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </ScrollBox>
      )}
    </>
  );
}
