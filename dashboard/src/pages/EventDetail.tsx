import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "wouter";
import { ApiError, apiGet, apiPost } from "../api/client.ts";
import { usePageTitle } from "../api/live.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { EventDetail } from "../api/types.ts";
import { CodeBlock } from "../components/CodeBlock.tsx";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { RunTable } from "../components/RunTable.tsx";
import { Time } from "../components/Time.tsx";

interface EventReplayAnswer {
  status: string;
  runIds: string[];
  reason?: string;
}

/** One event: its payload as stored (a quarantined body as it arrived), why it is quarantined, its runs. */
export function EventDetailPage({ id }: { id: string }) {
  usePageTitle(`Event ${id}`);
  const session = useSession();
  const queryClient = useQueryClient();
  const detail = useQuery({
    queryKey: ["event", id],
    queryFn: () => apiGet<EventDetail>(`/api/events/${encodeURIComponent(id)}`),
  });
  const replay = useMutation({
    mutationFn: () => apiPost<EventReplayAnswer>(`/api/events/${encodeURIComponent(id)}/replay`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["event", id] }),
  });

  if (detail.error) {
    if (detail.error instanceof ApiError && detail.error.status === 404) {
      return (
        <EmptyState title={`No event ${id}`}>
          <p>
            It may have been removed by retention. See the <Link href="/events">events</Link> page.
          </p>
        </EmptyState>
      );
    }
    return <ErrorNotice error={detail.error} title="The event could not be read" />;
  }
  if (!detail.data) return <div className="page-loading" aria-busy="true" />;
  const { event, runs } = detail.data;
  const quarantined = event.status === "quarantined";
  const raw = quarantined ? rawBody(event.payload) : null;

  return (
    <>
      <div className="page-head">
        <h1>
          Event {event.source} / {event.type}
        </h1>
        <p className="page-head-meta">
          <span className={`badge badge-${event.status === "accepted" ? "good" : quarantined ? "bad" : "idle"}`}>
            {event.status}
          </span>{" "}
          received <Time at={event.receivedAt} />
        </p>
      </div>
      {canOperate(session.role) && (
        <section className="actions" aria-label="Actions">
          <ConfirmButton
            label={quarantined ? "Judge it again" : "Replay the event"}
            title={quarantined ? "Judge this event again?" : "Replay this event?"}
            confirmLabel={quarantined ? "Judge again" : "Start new runs"}
            className="button button-primary"
            disabled={replay.isPending}
            onConfirm={() => replay.mutate()}
          >
            <p>
              {quarantined
                ? "The event is checked again under the current configuration: if it is usable now, its runs start; otherwise it stays quarantined with the new reason."
                : "The event starts fresh runs of every integration it matches now, from the first step."}
            </p>
          </ConfirmButton>
          <div className="action-results" aria-live="polite">
            {replay.isSuccess && (
              <p className="notice notice-good">
                {replay.data.runIds.length > 0
                  ? "New runs started: "
                  : `Now ${replay.data.status}${replay.data.reason ? `: ${replay.data.reason}` : ""}.`}
                {replay.data.runIds.map((runId) => (
                  <Link key={runId} href={`/runs/${runId}`} className="mono">
                    {runId}{" "}
                  </Link>
                ))}
              </p>
            )}
            {replay.isError && <ErrorNotice error={replay.error} title="Replay refused" />}
          </div>
        </section>
      )}
      {event.reason && (
        <section className="section" aria-labelledby="reason-title">
          <h2 id="reason-title">Why it is quarantined</h2>
          <CodeBlock label="the reason in full" value={event.reason} className="error-block" />
        </section>
      )}
      <dl className="facts">
        <div className="fact">
          <dt>Event id</dt>
          <dd className="mono">{event.id}</dd>
        </div>
        <div className="fact">
          <dt>Provider's id</dt>
          <dd className="mono">{event.providerId ?? <span className="muted">none</span>}</dd>
        </div>
      </dl>
      <section className="section" aria-labelledby="payload-title">
        <h2 id="payload-title">{raw ? "Body as received" : "Payload"}</h2>
        {raw ? (
          <>
            <p className="muted">
              {raw.contentType ?? "no content type"}, {raw.encoding}
            </p>
            <CodeBlock label="the body as received" value={raw.body} />
          </>
        ) : (
          <CodeBlock label="event payload" value={event.payload} />
        )}
      </section>
      <section className="section" aria-labelledby="runs-title">
        <h2 id="runs-title">Runs it started</h2>
        {runs.length === 0 ? (
          <p className="muted">
            {quarantined
              ? "None: a quarantined event starts no run until it is judged usable."
              : "None: no integration listened to it."}
          </p>
        ) : (
          <RunTable runs={runs} loading={false} />
        )}
      </section>
    </>
  );
}

/** A body that could not be parsed is stored as it arrived: `{ contentType, encoding, body }` (docs/read-api.md). */
function rawBody(payload: unknown): { contentType: string | null; encoding: string; body: string } | null {
  if (typeof payload !== "object" || payload === null) return null;
  const { contentType, encoding, body } = payload as Record<string, unknown>;
  if (typeof body !== "string" || typeof encoding !== "string") return null;
  return { contentType: typeof contentType === "string" ? contentType : null, encoding, body };
}
