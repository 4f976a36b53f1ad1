import { Link } from "wouter";
import type { AlertDelivery, DeliveryState } from "../../api/types.ts";
import { EmptyState, ErrorNotice, LoadingRows } from "../../components/Notices.tsx";
import { ScrollBox } from "../../components/ScrollBox.tsx";
import { Time } from "../../components/Time.tsx";

const tone: Record<DeliveryState, "good" | "busy" | "warn" | "bad"> = {
  delivered: "good",
  sending: "busy",
  retrying: "warn",
  failed: "bad",
};

/** A delivery's state in words and colour, optionally with its channel ("ops: retrying"). */
export function DeliveryBadge({ delivery, withChannel = false }: { delivery: AlertDelivery; withChannel?: boolean }) {
  return (
    <span className={`badge badge-${tone[delivery.state]}`}>
      {withChannel ? `${delivery.channel}: ${delivery.state}` : delivery.state}
    </span>
  );
}

/**
 * Per alert, its newest notification's delivery to each channel (the list comes newest first): what the alerts
 * table shows beside "notified".
 */
export function latestDeliveries(deliveries: readonly AlertDelivery[]): Map<string, AlertDelivery[]> {
  const newestNotification = new Map<string, string>();
  const latest = new Map<string, AlertDelivery[]>();
  for (const delivery of deliveries) {
    const { fingerprint, id } = delivery.notification;
    if (!newestNotification.has(fingerprint)) newestNotification.set(fingerprint, id);
    if (newestNotification.get(fingerprint) !== id) continue;
    latest.set(fingerprint, [...(latest.get(fingerprint) ?? []), delivery]);
  }
  return latest;
}

/**
 * Every notification's delivery to each channel, newest first: delivered, being sent, retrying (with the
 * receiver's last answer and the next attempt) or failed for good (its run can be replayed from its page).
 */
export function Deliveries({ deliveries, error }: { deliveries: AlertDelivery[] | undefined; error: unknown }) {
  return (
    <section aria-labelledby="deliveries-title" className="section">
      <h2 id="deliveries-title">Channel deliveries</h2>
      {error ? <ErrorNotice error={error} title="Deliveries could not be listed" /> : null}
      {deliveries && deliveries.length === 0 ? (
        <EmptyState title="No notification was sent yet">
          <p>Each notification goes to every channel of the alerts section of tenon.config.ts, as a run of its own.</p>
        </EmptyState>
      ) : (
        <ScrollBox>
          <table className="table deliveries-table">
            <thead>
              <tr>
                <th scope="col">Notification</th>
                <th scope="col">Channel</th>
                <th scope="col">Delivery</th>
              </tr>
            </thead>
            <tbody>
              {!deliveries && <LoadingRows columns={3} rows={3} />}
              {deliveries?.map((delivery) => (
                <tr key={delivery.eventId} data-channel={delivery.channel} data-state={delivery.state}>
                  <td>
                    {delivery.notification.summary}
                    <span className="muted block">
                      {delivery.notification.status} · notification {delivery.notification.number} · queued{" "}
                      <Time at={delivery.queuedAt} ageOnly />
                    </span>
                  </td>
                  <th scope="row">{delivery.channel}</th>
                  <td>
                    <DeliveryBadge delivery={delivery} />
                    <DeliveryDetail delivery={delivery} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollBox>
      )}
    </section>
  );
}

function DeliveryDetail({ delivery }: { delivery: AlertDelivery }) {
  const attempts = delivery.failedAttempts;
  return (
    <>
      {delivery.deliveredAt && (
        <span className="muted block">
          delivered <Time at={delivery.deliveredAt} ageOnly />
          {attempts > 0 && ` after ${attempts} failed attempt(s)`}
        </span>
      )}
      {delivery.state === "retrying" && (
        <span className="muted block">
          {attempts} failed attempt(s)
          {delivery.nextAttemptAt && (
            <>
              ; next <Time at={delivery.nextAttemptAt} ageOnly />
            </>
          )}
        </span>
      )}
      {delivery.state !== "delivered" && delivery.lastError && (
        <span className="delivery-error block">{delivery.lastError}</span>
      )}
      {delivery.state === "failed" && delivery.runId && (
        <span className="block">
          <Link href={`/runs/${delivery.runId}`}>Open its run to replay it</Link>
        </span>
      )}
    </>
  );
}
