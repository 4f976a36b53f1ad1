import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { apiGet } from "../api/client.ts";
import { pollMs, usePageTitle } from "../api/live.ts";
import { healthQuery } from "../api/queries.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { EventPage, EventStatus } from "../api/types.ts";
import { BulkReplayPanel } from "../components/BulkReplayPanel.tsx";
import { EmptyState, ErrorNotice, LoadingRows } from "../components/Notices.tsx";
import { Pager } from "../components/Pager.tsx";
import { RecentBulkActions } from "../components/RecentBulkActions.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { Time } from "../components/Time.tsx";
import { rangeStart, ranges, rangeWords } from "../format/ranges.ts";

const statuses: { value: EventStatus | ""; label: string }[] = [
  { value: "", label: "Any status" },
  { value: "accepted", label: "accepted (runs started)" },
  { value: "unmatched", label: "unmatched (no integration listens)" },
  { value: "quarantined", label: "quarantined (unusable, kept)" },
];

/**
 * Received events, newest first: what came in, from where, and what became of it. Quarantined and unmatched
 * ones can be replayed in bulk once the config is fixed: judged again as a job the page follows
 * (`POST /api/events/replay`).
 */
export function Events() {
  usePageTitle("Events");
  const session = useSession();
  const queryClient = useQueryClient();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const status = params.get("status") ?? "";
  const source = params.get("source") ?? "";
  const since = params.get("since") ?? "";
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const ids = { status: useId(), source: useId(), since: useId() };
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter starts again at the newest page
  useEffect(() => setCursors([]), [search]);

  const health = useQuery({ ...healthQuery, staleTime: 60_000 });
  const query = { status, source, since, limit: 50, cursor };
  const events = useQuery({
    queryKey: ["events", query],
    queryFn: () => apiGet<EventPage>("/api/events", query),
    refetchInterval: cursor ? false : pollMs,
    placeholderData: keepPreviousData,
  });
  const update = (change: Record<string, string>) => {
    const next = new URLSearchParams({ status, source, since, ...change });
    for (const [name, value] of [...next.entries()]) if (!value) next.delete(name);
    navigate(next.toString() ? `/events?${next}` : "/events");
  };
  const sources = [
    ...new Set([...(health.data?.webhookSources.map((s) => s.source) ?? []), ...(source ? [source] : [])]),
  ];
  const replayable = canOperate(session.role) && (status === "quarantined" || status === "unmatched");
  const selection: Record<string, string> = {
    status,
    ...(source ? { source } : {}),
    ...(since ? { since: rangeStart(since) } : {}),
  };

  return (
    <>
      <div className="page-head">
        <h1>Events</h1>
      </div>
      <div className="filter-row">
        <div className="field">
          <label htmlFor={ids.status}>Status</label>
          <select id={ids.status} value={status} onChange={(event) => update({ status: event.target.value })}>
            {statuses.map((option) => (
              <option key={option.value} value={option.value}>
                {option.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.source}>Source</label>
          <select id={ids.source} value={source} onChange={(event) => update({ source: event.target.value })}>
            <option value="">Any source</option>
            {sources.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.since}>Received</label>
          <select id={ids.since} value={since} onChange={(event) => update({ since: event.target.value })}>
            {ranges.map((range) => (
              <option key={range.value} value={range.value}>
                {range.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {replayable && (
        <BulkReplayPanel
          endpoint="/api/events/replay"
          selection={selection}
          selectionKey={JSON.stringify([status, source, since])}
          noun="event"
          confirmTitle={`Replay every ${status} event that matches?`}
          onEnded={() => void queryClient.invalidateQueries({ queryKey: ["events"] })}
        >
          <p>
            Every {status} event {source ? `from ${source} ` : ""}
            {since ? `received in the ${rangeWords(since)} ` : ""}
            is judged again under the current config: those an integration takes now start their runs; the others keep
            their status, with the reason as it reads now.
          </p>
        </BulkReplayPanel>
      )}
      {events.error && <ErrorNotice error={events.error} title="Events could not be listed" />}
      {events.data && events.data.events.length === 0 && !cursor ? (
        <EmptyState title={status || source || since ? "No event matches these filters" : "No event received yet"}>
          <p>
            Events arrive as webhooks at <code>/hooks/&lt;source&gt;</code>, from polls and schedules, or through{" "}
            <code>POST /api/events</code>.
          </p>
        </EmptyState>
      ) : (
        <>
          <ScrollBox>
            <table className="table events-table">
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">Received</th>
                  <th scope="col" className="secondary">
                    Provider's id
                  </th>
                  <th scope="col" className="secondary">
                    Reason
                  </th>
                </tr>
              </thead>
              <tbody>
                {events.isPending && <LoadingRows columns={5} />}
                {events.data?.events.map((event) => (
                  <tr key={event.id}>
                    <td>
                      <Link href={`/events/${event.id}`} className="event-type">
                        {event.type}
                      </Link>
                      <span className="muted block">from {event.source}</span>
                    </td>
                    <td>
                      <span
                        className={`badge badge-${event.status === "accepted" ? "good" : event.status === "quarantined" ? "bad" : "idle"}`}
                      >
                        {event.status}
                      </span>
                    </td>
                    <td>
                      <Time at={event.receivedAt} />
                    </td>
                    <td className="secondary mono">{event.providerId ?? ""}</td>
                    <td className="secondary last-error" title={event.reason ?? undefined}>
                      {event.reason ?? ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </ScrollBox>
          <Pager
            page={cursors.length + 1}
            hasNewer={cursors.length > 0}
            hasOlder={Boolean(events.data?.nextCursor)}
            onNewer={() => setCursors(cursors.slice(0, -1))}
            onOlder={() => events.data?.nextCursor && setCursors([...cursors, events.data.nextCursor])}
          />
        </>
      )}
      {canOperate(session.role) && <RecentBulkActions kind="replay-events" noun="event" />}
    </>
  );
}
