import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { apiGet, apiPost } from "../api/client.ts";
import { live, pollMs, usePageTitle } from "../api/live.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { Alert, AlertDelivery } from "../api/types.ts";
import { EmptyState, ErrorNotice, LoadingRows } from "../components/Notices.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { Time } from "../components/Time.tsx";
import { Deliveries, DeliveryBadge, latestDeliveries } from "./alerts/Deliveries.tsx";

/**
 * What the alert rules raised: firing and resolved, with acknowledge and snooze for operators, and how each
 * notification reached each channel.
 */
export function Alerts() {
  usePageTitle("Alerts");
  const session = useSession();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<"firing" | "resolved" | "">("firing");
  const statusId = useId();
  const alerts = useQuery({
    queryKey: ["alerts", status || "all"],
    queryFn: () => apiGet<{ alerts: Alert[] }>("/api/alerts", { status, limit: 100 }),
    refetchInterval: pollMs,
    placeholderData: keepPreviousData,
  });
  const deliveries = useQuery({
    queryKey: ["alerts", "deliveries"],
    queryFn: () => apiGet<{ deliveries: AlertDelivery[] }>("/api/alerts/deliveries", { limit: 100 }),
    ...live,
  });
  const latest = latestDeliveries(deliveries.data?.deliveries ?? []);
  const act = useMutation({
    mutationFn: ({ fingerprint, action }: { fingerprint: string; action: "ack" | "snooze" }) =>
      apiPost<{ alert: Alert }>(
        `/api/alerts/${encodeURIComponent(fingerprint)}/${action}`,
        action === "snooze" ? { for: "2h" } : undefined,
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["alerts"] }),
  });
  const operator = canOperate(session.role);

  return (
    <>
      <div className="page-head">
        <h1>Alerts</h1>
      </div>
      <div className="filter-row">
        <div className="field">
          <label htmlFor={statusId}>Show</label>
          <select id={statusId} value={status} onChange={(event) => setStatus(event.target.value as typeof status)}>
            <option value="firing">Firing</option>
            <option value="resolved">Resolved</option>
            <option value="">All</option>
          </select>
        </div>
      </div>
      {alerts.error && <ErrorNotice error={alerts.error} title="Alerts could not be listed" />}
      {act.isError && <ErrorNotice error={act.error} title="Refused" />}
      {alerts.data && alerts.data.alerts.length === 0 ? (
        <EmptyState title={status === "firing" ? "No alert is firing" : "No alert here"}>
          <p>Alert rules and channels are set in the alerts section of tenon.config.ts (docs/alerting.md).</p>
        </EmptyState>
      ) : (
        <ScrollBox>
          <table className="table alerts-table">
            <thead>
              <tr>
                <th scope="col">Alert</th>
                <th scope="col">Status</th>
                <th scope="col">Since</th>
                <th scope="col" className="secondary">
                  Notified
                </th>
              </tr>
            </thead>
            <tbody>
              {alerts.isPending && <LoadingRows columns={4} />}
              {alerts.data?.alerts.map((alert) => (
                <tr key={alert.fingerprint}>
                  <td>
                    <strong>{alert.summary}</strong>
                    <span className="muted block">
                      {alert.rule} on {alert.subject} · {alert.severity}
                    </span>
                    {operator && alert.status === "firing" && (
                      <div className="row-actions">
                        {!alert.acknowledgedAt && (
                          <button
                            type="button"
                            className="button button-small"
                            disabled={act.isPending}
                            onClick={() => act.mutate({ fingerprint: alert.fingerprint, action: "ack" })}
                          >
                            Acknowledge
                          </button>
                        )}
                        <button
                          type="button"
                          className="button button-small button-quiet"
                          disabled={act.isPending}
                          onClick={() => act.mutate({ fingerprint: alert.fingerprint, action: "snooze" })}
                        >
                          Snooze 2 h
                        </button>
                      </div>
                    )}
                  </td>
                  <td>
                    <span className={`badge badge-${alert.status === "firing" ? "bad" : "good"}`}>{alert.status}</span>
                    {alert.acknowledgedBy && (
                      <span className="muted block">acknowledged by {alert.acknowledgedBy}</span>
                    )}
                    {alert.snoozedUntil && (
                      <span className="muted block">
                        snoozed until <Time at={alert.snoozedUntil} />
                      </span>
                    )}
                  </td>
                  <td>
                    <Time at={alert.firstSeenAt} />
                    {alert.resolvedAt && (
                      <span className="muted block">
                        resolved <Time at={alert.resolvedAt} ageOnly />
                      </span>
                    )}
                  </td>
                  <td className="secondary">
                    {alert.notifications} time(s)
                    {alert.lastNotifiedAt && (
                      <span className="muted block">
                        last <Time at={alert.lastNotifiedAt} ageOnly />
                      </span>
                    )}
                    {latest.has(alert.fingerprint) && (
                      <span className="delivery-states">
                        {latest.get(alert.fingerprint)?.map((delivery) => (
                          <DeliveryBadge key={delivery.channel} delivery={delivery} withChannel />
                        ))}
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollBox>
      )}
      <Deliveries deliveries={deliveries.data?.deliveries} error={deliveries.error} />
    </>
  );
}
