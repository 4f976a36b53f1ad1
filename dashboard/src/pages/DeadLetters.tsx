import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { apiGet, apiPost } from "../api/client.ts";
import { pollMs, usePageTitle } from "../api/live.ts";
import { healthQuery } from "../api/queries.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { RunPage } from "../api/types.ts";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { Pager } from "../components/Pager.tsx";
import { RunTable } from "../components/RunTable.tsx";

interface BulkAnswer {
  selected: number;
  replayed?: number;
  skipped?: number;
  failed?: number;
  reasons?: Record<string, number>;
  dryRun?: boolean;
}

const ranges = [
  { value: "", label: "Any time" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
];

/**
 * Runs that ended without success: dead (retries exhausted) or failed (a refusal no retry fixes). Once the cause
 * is fixed, replay one from its page, or all that match the filter here (`POST /api/runs/replay`, in the operator log).
 */
export function DeadLetters() {
  usePageTitle("Dead letters");
  const session = useSession();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<"dead" | "failed">("dead");
  const [integration, setIntegration] = useState("");
  const [since, setSince] = useState("");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const ids = { status: useId(), integration: useId(), since: useId() };
  const change = (apply: () => void) => {
    apply();
    setCursors([]);
  };

  const health = useQuery({ ...healthQuery, staleTime: 60_000 });
  const query = { status, integration, since, limit: 50, cursor };
  const runs = useQuery({
    queryKey: ["runs", query],
    queryFn: () => apiGet<RunPage>("/api/runs", query),
    refetchInterval: cursor ? false : pollMs,
    placeholderData: keepPreviousData,
  });
  const selection = {
    status,
    ...(integration ? { integration } : {}),
    ...(since ? { since: new Date(Date.now() - rangeMs(since)).toISOString() } : {}),
  };
  const preview = useMutation({
    mutationFn: () => apiPost<BulkAnswer>("/api/runs/replay", { ...selection, dryRun: true }),
  });
  const replayAll = useMutation({
    mutationFn: () => apiPost<BulkAnswer>("/api/runs/replay", selection),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["runs"] }),
  });
  const integrations = health.data?.integrations.map((i) => i.id) ?? [];

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
        <section className="actions" aria-label="Bulk replay">
          <button type="button" className="button" onClick={() => preview.mutate()} disabled={preview.isPending}>
            Count matching runs
          </button>
          <ConfirmButton
            label="Replay all matching"
            title={`Replay every ${status} run that matches?`}
            confirmLabel="Replay all"
            className="button button-primary"
            disabled={replayAll.isPending}
            onConfirm={() => replayAll.mutate()}
          >
            <p>
              Every {status} run {integration ? `of ${integration} ` : ""}
              {since ? `created in the ${ranges.find((r) => r.value === since)?.label.toLowerCase()} ` : ""}
              resumes at its first incomplete step. This is written to the operator log as yours.
            </p>
            {preview.data && <p>{preview.data.selected} run(s) match right now.</p>}
          </ConfirmButton>
          <div className="action-results" aria-live="polite">
            {preview.isSuccess && <p className="notice">{preview.data.selected} run(s) match.</p>}
            {preview.isError && <ErrorNotice error={preview.error} title="Could not count" />}
            {replayAll.isPending && (
              <p className="notice">
                <progress aria-label="Replaying" /> Replaying…
              </p>
            )}
            {replayAll.isSuccess && (
              <p className="notice notice-good">
                {replayAll.data.replayed} replayed, {replayAll.data.skipped} skipped, {replayAll.data.failed} failed of{" "}
                {replayAll.data.selected} selected.
              </p>
            )}
            {replayAll.isError && <ErrorNotice error={replayAll.error} title="Bulk replay refused" />}
          </div>
        </section>
      )}

      {runs.error && <ErrorNotice error={runs.error} title="Runs could not be listed" />}
      {runs.data && runs.data.runs.length === 0 && !cursor ? (
        <EmptyState title={`No ${status} run${integration || since ? " matches" : ""}`}>
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
    </>
  );
}

function rangeMs(value: string): number {
  const hours = { "1h": 1, "24h": 24, "7d": 168 }[value] ?? 0;
  return hours * 3_600_000;
}
