import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "wouter";
import { apiPost } from "../../api/client.ts";
import type { RepairMode } from "../../api/reconciliation-types.ts";
import { ErrorNotice } from "../../components/Notices.tsx";
import { shortId } from "../../components/RunTable.tsx";

interface RunAnswer {
  runId: string;
  dryRun: boolean;
}

/**
 * "Run now" and "Dry run" (operators; `POST /api/reconciliations/:id/run`, in the operator log). A run is a
 * durable run like any other: a worker picks it up, and its report shows here when it ends.
 */
export function RunButtons({ id, mode }: { id: string; mode: RepairMode }) {
  const queryClient = useQueryClient();
  const start = useMutation({
    mutationFn: (dryRun: boolean) =>
      apiPost<RunAnswer>(`/api/reconciliations/${encodeURIComponent(id)}/run`, { dryRun }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["reconciliations"] }),
  });
  return (
    <section className="actions" aria-label="Run">
      <button
        type="button"
        className="button button-primary"
        disabled={start.isPending}
        onClick={() => start.mutate(false)}
      >
        Run now
      </button>
      <button type="button" className="button" disabled={start.isPending} onClick={() => start.mutate(true)}>
        Dry run
      </button>
      <p className="hint actions-hint">
        {mode === "auto"
          ? "A run repairs what it finds at once (repair mode auto); a dry run only reports what it would do."
          : "A dry run lists and compares, and changes nothing: no finding is opened or resolved."}
      </p>
      <div className="action-results" aria-live="polite">
        {start.isSuccess && (
          <p className="notice notice-good">
            {start.data.dryRun ? "Dry run" : "Run"} started as run{" "}
            <Link href={`/runs/${start.data.runId}`} className="mono" title={start.data.runId}>
              {shortId(start.data.runId)}
            </Link>
            : its report appears here when it ends.
          </p>
        )}
        {start.isError && <ErrorNotice error={start.error} title="The run was refused" />}
      </div>
    </section>
  );
}
