import { useQuery } from "@tanstack/react-query";
import { apiGet } from "./client.ts";

/** The shapes of `/api/bulk-actions` (src/server/bulk-action-routes.ts). */

export type BulkActionKind = "replay-runs" | "replay-events";
export type BulkActionState = "running" | "finished" | "failed" | "interrupted";

export interface BulkAction {
  id: string;
  kind: BulkActionKind;
  /** The selection as the request gave it (`status`, `integration`, `error`, `source`, `since`, `until`…). */
  filter: Record<string, string | number>;
  actor: string;
  total: number;
  done: number;
  replayed: number;
  skipped: number;
  failed: number;
  other: Record<string, number>;
  reasons: Record<string, number>;
  state: BulkActionState;
  error: string | null;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface BulkActionPage {
  bulkActions: BulkAction[];
  nextCursor: string | null;
}

/** A running job is polled every second: its progress bar moves as the pages commit. */
const progressPollMs = 1000;

/** One job, polled while it runs; idle without an id. */
export function useBulkAction(id: string | null) {
  return useQuery({
    queryKey: ["bulk-action", id],
    queryFn: () => apiGet<BulkAction>(`/api/bulk-actions/${encodeURIComponent(id ?? "")}`),
    enabled: id !== null,
    refetchInterval: (query) => (query.state.data?.state === "running" ? progressPollMs : false),
  });
}

/** The latest jobs of a kind, polled like other live data (faster while one runs). */
export function useRecentBulkActions(kind: BulkActionKind) {
  return useQuery({
    queryKey: ["bulk-actions", kind],
    queryFn: () => apiGet<BulkActionPage>("/api/bulk-actions", { kind, limit: 5 }),
    refetchInterval: (query) =>
      query.state.data?.bulkActions.some((job) => job.state === "running") ? progressPollMs : 5000,
  });
}

/** "replayed 198, skipped 2, failed 0" with any other outcome ("still quarantined 3") after the replayed count. */
export function summarise(job: BulkAction): string {
  const others = Object.entries(job.other).map(([outcome, count]) => `, ${outcome} ${count}`);
  return `replayed ${job.replayed}${others.join("")}, skipped ${job.skipped}, failed ${job.failed}`;
}

/** "status dead · integration billing · error contains "401"": the filter in a line. */
export function describeFilter(job: BulkAction): string {
  const { status, integration, error, source } = job.filter;
  return [
    `status ${status}`,
    ...(integration === undefined ? [] : [`integration ${integration}`]),
    ...(error === undefined ? [] : [`error contains "${error}"`]),
    ...(source === undefined ? [] : [`source ${source}`]),
  ].join(" · ");
}
