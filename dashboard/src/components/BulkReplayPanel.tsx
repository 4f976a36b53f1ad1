import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type ReactNode, useEffect, useState } from "react";
import { type BulkAction, useBulkAction } from "../api/bulk-actions.ts";
import { apiPost } from "../api/client.ts";
import { BulkProgress } from "./BulkProgress.tsx";
import { ConfirmButton } from "./ConfirmButton.tsx";
import { ErrorNotice } from "./Notices.tsx";

/**
 * Count, then replay everything a filter selects, as a job (`POST /api/runs/replay` or `/api/events/replay`): the
 * count is a dry run (nothing changes, nothing is logged), the replay asks first, then follows the job's
 * progress until it ends. A new filter forgets the count, so the number on the button is always the filter's.
 */
export function BulkReplayPanel(props: {
  endpoint: "/api/runs/replay" | "/api/events/replay";
  selection: Record<string, string>;
  /** Changes when the filter does (the selection itself may not: a time range is counted back from now). */
  selectionKey: string;
  /** "run" or "event". */
  noun: string;
  /** The dialog's question, and what it explains. */
  confirmTitle: string;
  children: ReactNode;
  /** Called when the job ends, so the page's lists show what changed. */
  onEnded: () => void;
}) {
  const { endpoint, selection, selectionKey, noun, onEnded } = props;
  const queryClient = useQueryClient();
  const [jobId, setJobId] = useState<string | null>(null);
  const preview = useMutation({
    mutationFn: () => apiPost<{ dryRun: true; selected: number }>(endpoint, { ...selection, dryRun: true }),
  });
  const start = useMutation({
    mutationFn: () => apiPost<BulkAction>(endpoint, selection),
    onSuccess: (job) => {
      queryClient.setQueryData(["bulk-action", job.id], job);
      setJobId(job.id);
    },
  });
  const job = useBulkAction(jobId);
  const running = start.isPending || job.data?.state === "running";
  const { reset } = preview;
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter (its key) makes the count stale
  useEffect(() => reset(), [selectionKey, reset]);
  const ended = job.data !== undefined && job.data.state !== "running";
  // biome-ignore lint/correctness/useExhaustiveDependencies: once per job, when it ends
  useEffect(() => {
    if (ended) {
      // What matched before the replay does not now: count again for a new number.
      reset();
      onEnded();
      void queryClient.invalidateQueries({ queryKey: ["bulk-actions"] });
    }
  }, [ended, jobId]);

  const count = preview.data?.selected;
  return (
    <section className="bulk" aria-label={`Replay ${noun}s in bulk`}>
      <div className="actions">
        <button type="button" className="button" onClick={() => preview.mutate()} disabled={preview.isPending}>
          Count matching {noun}s
        </button>
        <ConfirmButton
          label={count === undefined ? "Replay all matching" : `Replay all ${count}`}
          title={props.confirmTitle}
          confirmLabel="Replay all"
          className="button button-primary"
          disabled={running || count === 0}
          onConfirm={() => start.mutate()}
        >
          {props.children}
          {count !== undefined && (
            <p>
              {count} {noun}(s) matched when counted; the replay takes those that match when it starts.
            </p>
          )}
          <p>It is written to the operator log as yours, with its outcome when it ends.</p>
        </ConfirmButton>
      </div>
      <div className="bulk-status" aria-live="polite">
        {preview.isSuccess && (
          <p className="notice">
            {preview.data.selected} {noun}(s) match.
          </p>
        )}
        {preview.isError && <ErrorNotice error={preview.error} title="Could not count" />}
        {start.isError && <ErrorNotice error={start.error} title="Bulk replay refused" />}
        {job.error && <ErrorNotice error={job.error} title="Its progress could not be read" />}
        {job.data && <BulkProgress job={job.data} noun={noun} />}
      </div>
    </section>
  );
}
