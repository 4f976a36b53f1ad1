import type { HealthStatus, RunStatus } from "../api/types.ts";

const runTone: Record<RunStatus, "good" | "bad" | "warn" | "busy" | "idle"> = {
  succeeded: "good",
  failed: "bad",
  dead: "bad",
  paused: "warn",
  waiting: "warn",
  retrying: "warn",
  running: "busy",
  queued: "idle",
  blocked: "idle",
  sleeping: "idle",
};

/** A run's status in words and colour (the colour is never the only signal). */
export function RunStatusBadge({ status }: { status: RunStatus }) {
  return <span className={`badge badge-${runTone[status]}`}>{status}</span>;
}

const healthWord: Record<HealthStatus, string> = { green: "OK", amber: "Attention", red: "Failing" };

/** Green, amber or red with a word for it, for screen readers and colour-blind eyes alike. */
export function HealthBadge({ status }: { status: HealthStatus }) {
  return (
    <span className={`health health-${status}`}>
      <span className="health-dot" aria-hidden="true" />
      {healthWord[status]}
    </span>
  );
}

/** An HTTP status: 2xx good, 4xx and 5xx bad, none (network error) bad too. */
export function HttpStatusBadge({ status }: { status: number | null }) {
  if (status === null) return <span className="badge badge-bad">no answer</span>;
  const tone = status < 300 ? "good" : status === 429 ? "warn" : status < 400 ? "idle" : "bad";
  return <span className={`badge badge-${tone}`}>{status}</span>;
}
