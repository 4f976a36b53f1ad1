import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "wouter";
import { ApiError, apiGet, apiPost } from "../api/client.ts";
import { usePageTitle } from "../api/live.ts";
import { canOperate, useSession } from "../api/session.ts";
import { type EventDetail, endedStatuses, type RunDetail, type RunStatus } from "../api/types.ts";
import { CodeBlock } from "../components/CodeBlock.tsx";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { ExchangeList } from "../components/ExchangeList.tsx";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { RunStatusBadge } from "../components/StatusBadge.tsx";
import { Time } from "../components/Time.tsx";
import { useNow } from "../format/now.tsx";
import { formatDuration, toEpochMs } from "../format/time.ts";
import { WaterfallChart } from "./run-detail/WaterfallChart.tsx";
import { buildWaterfall } from "./run-detail/waterfall-rows.ts";

/** An unfinished run is followed closely: an operator who just replayed it is watching. */
const activePollMs = 2000;

interface RunReplayAnswer {
  run: { id: string; status: RunStatus; previousStatus: RunStatus };
  message: string;
}

interface EventReplayAnswer {
  eventId: string;
  status: string;
  runIds: string[];
  reason?: string;
}

/** One run's story: what it did, when, what it sent and got back, how it ended; and replay, for operators. */
export function RunDetailPage({ id }: { id: string }) {
  usePageTitle(`Run ${id}`);
  const now = useNow();
  const session = useSession();
  const queryClient = useQueryClient();
  const detail = useQuery({
    queryKey: ["run", id],
    queryFn: () => apiGet<RunDetail>(`/api/runs/${encodeURIComponent(id)}`),
    refetchInterval: (query) => {
      const status = query.state.data?.run.status;
      return status && endedStatuses.includes(status) ? false : activePollMs;
    },
  });
  const eventId = detail.data?.run.eventId;
  const event = useQuery({
    queryKey: ["event", eventId],
    queryFn: () => apiGet<EventDetail>(`/api/events/${encodeURIComponent(eventId ?? "")}`),
    enabled: eventId !== undefined,
    staleTime: Number.POSITIVE_INFINITY,
  });
  const replayRun = useMutation({
    mutationFn: () => apiPost<RunReplayAnswer>(`/api/runs/${encodeURIComponent(id)}/replay`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["run", id] }),
  });
  const replayEvent = useMutation({
    mutationFn: () => apiPost<EventReplayAnswer>(`/api/events/${encodeURIComponent(eventId ?? "")}/replay`),
  });

  if (detail.error) {
    if (detail.error instanceof ApiError && detail.error.status === 404) {
      return (
        <EmptyState title={`No run ${id}`}>
          <p>
            It may have been removed by retention, or the link is wrong. Find runs on the <Link href="/runs">runs</Link>{" "}
            page.
          </p>
        </EmptyState>
      );
    }
    return <ErrorNotice error={detail.error} title="The run could not be read" />;
  }
  if (!detail.data) return <div className="page-loading" aria-busy="true" />;

  const { run } = detail.data;
  const replayable = run.status === "failed" || run.status === "dead";
  const started = toEpochMs(run.startedAt);
  const finished = toEpochMs(run.finishedAt);
  // Counted from the steps: the run row's own counter holds only failures outside any step.
  const failedAttempts =
    detail.data.steps.reduce((sum, step) => sum + step.attempts.filter((a) => a.outcome === "failed").length, 0) +
    detail.data.stateChanges.filter(
      (c) => c.stepName === null && (c.state === "retry scheduled" || c.state === "failed" || c.state === "dead"),
    ).length;

  return (
    <>
      <div className="page-head">
        <h1>
          Run <span className="mono run-id">{run.id}</span>
        </h1>
        <p className="page-head-meta">
          <RunStatusBadge status={run.status} /> <span>{run.integrationId}</span>
        </p>
      </div>

      {canOperate(session.role) && (
        <section className="actions" aria-label="Actions">
          {replayable && (
            <ConfirmButton
              label="Replay from the failed step"
              title="Replay this run?"
              confirmLabel="Replay run"
              className="button button-primary"
              disabled={replayRun.isPending}
              onConfirm={() => replayRun.mutate()}
            >
              <p>
                The run resumes at its first incomplete step. Completed steps are not run again: their results are
                journaled. It is written to the operator log as yours.
              </p>
            </ConfirmButton>
          )}
          {eventId && (
            <ConfirmButton
              label="Replay the event"
              title="Replay the event?"
              confirmLabel="Start new runs"
              disabled={replayEvent.isPending}
              onConfirm={() => replayEvent.mutate()}
            >
              <p>
                The event starts fresh runs of every integration it matches now, from the first step. Use it when the
                integration's code changed; to finish this run, replay the run instead.
              </p>
            </ConfirmButton>
          )}
          <div className="action-results" aria-live="polite">
            {replayRun.isSuccess && <p className="notice notice-good">{replayRun.data.message}</p>}
            {replayRun.isError && <ErrorNotice error={replayRun.error} title="Replay refused" />}
            {replayEvent.isSuccess && (
              <p className="notice notice-good">
                {replayEvent.data.runIds.length === 0
                  ? `The event was judged again: ${replayEvent.data.status}${replayEvent.data.reason ? ` (${replayEvent.data.reason})` : ""}.`
                  : "New runs started: "}
                {replayEvent.data.runIds.map((runId) => (
                  <Link key={runId} href={`/runs/${runId}`} className="mono">
                    {runId}{" "}
                  </Link>
                ))}
              </p>
            )}
            {replayEvent.isError && <ErrorNotice error={replayEvent.error} title="Replay refused" />}
          </div>
        </section>
      )}

      {run.lastError && (
        <section className="section" aria-labelledby="error-title">
          <h2 id="error-title">{endedStatuses.includes(run.status) ? "Error" : "Last error"}</h2>
          <CodeBlock label="the error in full" value={run.lastError} className="error-block" />
        </section>
      )}

      <dl className="facts">
        <Fact label="Integration">
          <Link href={`/runs?integration=${encodeURIComponent(run.integrationId)}`}>{run.integrationId}</Link>
        </Fact>
        <Fact label="Event">
          {detail.data.event ? (
            <Link href={`/events/${detail.data.event.id}`}>
              {detail.data.event.source} / {detail.data.event.type}
            </Link>
          ) : (
            <span className="muted">removed</span>
          )}
        </Fact>
        <Fact label="Provider's event id">{detail.data.event?.providerId ?? <span className="muted">none</span>}</Fact>
        <Fact label="Created">
          <Time at={run.createdAt} />
        </Fact>
        <Fact label="Started">
          <Time at={run.startedAt} />
        </Fact>
        <Fact label="Finished">
          <Time at={run.finishedAt} />
        </Fact>
        <Fact label="Took">
          {started !== null ? formatDuration((finished ?? now) - started) : <span className="muted">not started</span>}
          {started !== null && finished === null && <span className="muted"> so far</span>}
        </Fact>
        <Fact label="Failed attempts">{failedAttempts}</Fact>
        {run.concurrencyKey && <Fact label="Concurrency key">{run.concurrencyKey}</Fact>}
        {run.waitingOn && <Fact label="Waiting on">{run.waitingOn}</Fact>}
        {run.crashes > 0 && <Fact label="Worker crashes">{run.crashes}</Fact>}
      </dl>

      <section className="section" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <WaterfallChart waterfall={buildWaterfall(detail.data, now)} />
      </section>

      <section className="section" aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        {detail.data.steps.length === 0 ? (
          <p className="muted">No step has finished an attempt yet.</p>
        ) : (
          <ol className="steps">
            {detail.data.steps.map((step) => (
              <li key={step.name} className="step">
                <div className="step-head">
                  <h3>{step.name}</h3>
                  <span className={`badge badge-${step.status === "completed" ? "good" : "bad"}`}>{step.status}</span>
                  <span className="idempotency-key">
                    Idempotency-Key <code>{step.idempotencyKey}</code>
                  </span>
                </div>
                <ol className="attempts">
                  {step.attempts.map((attempt, index) => (
                    <li key={attempt.attempt ?? index} className={`attempt attempt-${attempt.outcome}`}>
                      <p className="attempt-line">
                        {afterReplay(step.attempts, index) && <span className="muted">After a replay: </span>}
                        Attempt {attempt.attempt ?? "?"}{" "}
                        <span className={`badge badge-${attempt.outcome === "succeeded" ? "good" : "bad"}`}>
                          {attempt.outcome}
                        </span>
                        {attempt.durationMs !== null && <span> in {formatDuration(attempt.durationMs)}</span>}
                        <span className="muted">
                          {" "}
                          · ended <Time at={attempt.finishedAt} />
                        </span>
                        {attempt.runAfter === "retry" && <span className="muted"> · retried</span>}
                        {(attempt.runAfter === "dead" || attempt.runAfter === "failed") && (
                          <span className="muted"> · the run ended {attempt.runAfter}</span>
                        )}
                      </p>
                      {attempt.error && (
                        <CodeBlock
                          label={`error of attempt ${attempt.attempt ?? index + 1}`}
                          value={attempt.error}
                          className="error-block"
                        />
                      )}
                    </li>
                  ))}
                </ol>
              </li>
            ))}
          </ol>
        )}
      </section>

      <section className="section" aria-labelledby="exchanges-title">
        <h2 id="exchanges-title">Requests to other systems ({detail.data.exchanges.length})</h2>
        {detail.data.exchanges.length === 0 ? (
          <p className="muted">This run sent no request through a connection.</p>
        ) : (
          <ExchangeList exchanges={detail.data.exchanges} />
        )}
      </section>

      <section className="section" aria-labelledby="history-title">
        <h2 id="history-title">State changes</h2>
        <ScrollBox>
          <table className="table history-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">State</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {detail.data.stateChanges.map((change, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: the history is append-only, its order is its identity
                <tr key={index}>
                  <td>
                    <Time at={change.at} />
                  </td>
                  <td>{change.state}</td>
                  <td className="detail-cell">
                    {[
                      change.stepName && `step ${change.stepName}`,
                      change.connectionId && `connection ${change.connectionId}`,
                      // An error is shown whole with its step above; its first line says which one it is.
                      change.detail?.split("\n")[0],
                    ]
                      .filter(Boolean)
                      .join(" · ")}
                    {change.until && (
                      <>
                        {" "}
                        · until <Time at={change.until} />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollBox>
        {detail.data.incidents.length > 0 && (
          <>
            <h3>Connection incidents meanwhile</h3>
            <ul className="plain-list">
              {detail.data.incidents.map((incident) => (
                <li key={incident.id}>
                  <Time at={incident.at} /> {incident.connectionId}: {incident.kind.replace("_", " ")} ·{" "}
                  {incident.detail}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>

      <section className="section" aria-labelledby="payload-title">
        <h2 id="payload-title">Event payload</h2>
        {event.error && <ErrorNotice error={event.error} />}
        {event.data ? (
          <CodeBlock label="event payload" value={event.data.event.payload} />
        ) : (
          !event.error && <div className="code code-loading" />
        )}
      </section>

      {run.output !== null && run.output !== undefined && (
        <section className="section" aria-labelledby="output-title">
          <h2 id="output-title">Output</h2>
          <CodeBlock label="run output" value={run.output} />
        </section>
      )}
    </>
  );
}

/** A replay starts a step's attempts again at 1: an attempt numbered no higher than the one before followed one. */
function afterReplay(attempts: RunDetail["steps"][number]["attempts"], index: number): boolean {
  const previous = attempts[index - 1]?.attempt;
  const current = attempts[index]?.attempt;
  return previous != null && current != null && current <= previous;
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}
