import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useState } from "react";
import { apiGet } from "../api/client.ts";
import { pollMs, usePageTitle } from "../api/live.ts";
import { healthQuery } from "../api/queries.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { RunPage } from "../api/types.ts";
import { BulkReplayPanel } from "../components/BulkReplayPanel.tsx";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { Pager } from "../components/Pager.tsx";
import { RecentBulkActions } from "../components/RecentBulkActions.tsx";
import { RunTable } from "../components/RunTable.tsx";
import { rangeStart, ranges, rangeWords } from "../format/ranges.ts";

/** Typing in the error filter asks the API once the typing pauses, not at every key. */
const typingPauseMs = 400;

/**
 * Runs that ended without success: dead (retries exhausted) or failed (a refusal no retry fixes). Once the cause
 * is fixed, replay one from its page, or all that match the filter here: counted first, then replayed as a job
 * whose progress the page follows (`POST /api/runs/replay`, in the operator log with who started it).
 */
export function DeadLetters() {
  usePageTitle("Dead letters");
  const session = useSession();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<"dead" | "failed">("dead");
  const [integration, setIntegration] = useState("");
  const [errorInput, setErrorInput] = useState("");
  const [error, setError] = useState("");
  const [since, setSince] = useState("");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const ids = { status: useId(), integration: useId(), error: useId(), errorHint: useId(), since: useId() };
  const change = (apply: () => void) => {
    apply();
    setCursors([]);
  };
  useEffect(() => {
    const timer = setTimeout(() => {
      setError(errorInput.trim());
      setCursors([]);
    }, typingPauseMs);
    return () => clearTimeout(timer);
  }, [errorInput]);

  const health = useQuery({ ...healthQuery, staleTime: 60_000 });
  // The time range as the API's "duration back from now": the list and the replay read it at their own moment.
  const query = { status, integration, error, since, limit: 50, cursor };
  const runs = useQuery({
    queryKey: ["runs", query],
    queryFn: () => apiGet<RunPage>("/api/runs", query),
    refetchInterval: cursor ? false : pollMs,
    placeholderData: keepPreviousData,
  });
  const selection: Record<string, string> = {
    status,
    ...(integration ? { integration } : {}),
    ...(error ? { error } : {}),
    ...(since ? { since: rangeStart(since) } : {}),
  };
  const integrations = health.data?.integrations.map((i) => i.id) ?? [];
  const filtered = Boolean(integration || error || since);

  return (
    <>
      <div className="page-head">
        <h1>Dead letters</h1>
      </div>
      <div className="filter-row">
        <div className="field">
          <label htmlFor={ids.status}>Ended</label>
          <select
            id={ids.status}
            value={status}
            onChange={(event) => change(() => setStatus(event.target.value as "dead" | "failed"))}
          >
            <option value="dead">dead: retries exhausted</option>
            <option value="failed">failed: refused, not retried</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.integration}>Integration</label>
          <select
            id={ids.integration}
            value={integration}
            onChange={(event) => change(() => setIntegration(event.target.value))}
          >
            <option value="">Any integration</option>
            {integrations.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.error}>Error contains</label>
          <input
            id={ids.error}
            type="search"
            value={errorInput}
            maxLength={200}
            placeholder="e.g. 401 or auth_failed"
            aria-describedby={ids.errorHint}
            onChange={(event) => setErrorInput(event.target.value)}
          />
          <span id={ids.errorHint} className="visually-hidden">
            Matches the last error's text, ignoring case
          </span>
        </div>
        <div className="field">
          <label htmlFor={ids.since}>Created</label>
          <select id={ids.since} value={since} onChange={(event) => change(() => setSince(event.target.value))}>
            {ranges.map((range) => (
              <option key={range.value} value={range.value}>
                {range.label}
              </option>
            ))}
          </select>
        </div>
      </div>

      {canOperate(session.role) && (
        <BulkReplayPanel
          endpoint="/api/runs/replay"
          selection={selection}
          selectionKey={JSON.stringify([status, integration, error, since])}
          noun="run"
          confirmTitle={`Replay every ${status} run that matches?`}
          onEnded={() => void queryClient.invalidateQueries({ queryKey: ["runs"] })}
        >
          <p>
            Every {status} run {integration ? `of ${integration} ` : ""}
            {error ? `whose error contains "${error}" ` : ""}
            {since ? `created in the ${rangeWords(since)} ` : ""}
            resumes at its first incomplete step.
          </p>
        </BulkReplayPanel>
      )}

      {runs.error && <ErrorNotice error={runs.error} title="Runs could not be listed" />}
      {runs.data && runs.data.runs.length === 0 && !cursor ? (
        <EmptyState title={`No ${status} run${filtered ? " matches" : ""}`}>
          <p>Nothing to replay. Runs that exhaust their retries, or that an API refuses, land here.</p>
        </EmptyState>
      ) : (
        <>
          <RunTable runs={runs.data?.runs} loading={runs.isPending} />
          <Pager
            page={cursors.length + 1}
            hasNewer={cursors.length > 0}
            hasOlder={Boolean(runs.data?.nextCursor)}
            onNewer={() => setCursors(cursors.slice(0, -1))}
            onOlder={() => runs.data?.nextCursor && setCursors([...cursors, runs.data.nextCursor])}
          />
        </>
      )}
      {canOperate(session.role) && <RecentBulkActions kind="replay-runs" noun="run" />}
    </>
  );
}
