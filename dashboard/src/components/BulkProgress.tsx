import { type BulkAction, summarise } from "../api/bulk-actions.ts";

const stateWord: Record<BulkAction["state"], string> = {
  running: "Replaying",
  finished: "Finished",
  failed: "Stopped on an error",
  interrupted: "Interrupted",
};

/** A job's state as a badge's tone. */
export const stateTone: Record<BulkAction["state"], string> = {
  running: "busy",
  finished: "good",
  failed: "bad",
  interrupted: "warn",
};

/**
 * A bulk action's progress: a bar with its numbers for assistive technology (role progressbar, aria values), the
 * counts so far, and at the end a summary with the reasons for whatever was not replayed. Its height does not
 * change while the numbers move.
 */
export function BulkProgress({ job, noun }: { job: BulkAction; noun: string }) {
  const share = job.total === 0 ? 1 : Math.min(1, job.done / job.total);
  const reasons = Object.entries(job.reasons);
  return (
    <div className="bulk-progress">
      <div className="bulk-progress-head">
        <span className={`badge badge-${stateTone[job.state]}`}>{stateWord[job.state]}</span>
        <span className="bulk-count">
          {job.done} of {job.total} {noun}s
        </span>
      </div>
      <div
        className="progress"
        role="progressbar"
        aria-label={`Replay of ${job.total} ${noun}s`}
        aria-valuemin={0}
        aria-valuemax={job.total}
        aria-valuenow={job.done}
        aria-valuetext={`${job.done} of ${job.total} ${noun}s done`}
      >
        <div className={`progress-fill progress-${stateTone[job.state]}`} style={{ width: `${share * 100}%` }} />
      </div>
      <p className="bulk-summary">
        {summarise(job)}
        {job.state === "finished" && ` of ${job.total} selected.`}
        {job.state === "interrupted" &&
          " so far. Its process stopped before the end; resume it to replay the rest (none is replayed twice)."}
        {job.state === "failed" && job.error && ` so far. ${job.error}`}
      </p>
      {job.state !== "running" && reasons.length > 0 && (
        <ul className="bulk-reasons">
          {reasons.map(([reason, count]) => (
            <li key={reason}>
              {count} {reason}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
