import type { RunDetail, StateChange } from "../../api/types.ts";
import { formatDuration, toEpochMs } from "../../format/time.ts";

/**
 * A run's timeline laid out as a waterfall: one lane for the run's own states (queued, running, waiting,
 * paused, sleeping, retry back-off), then each step with its attempts, each followed by the requests it sent.
 * Positions are in epoch ms; the component scales them to the run's span.
 */

export type BarKind =
  | "queued"
  | "running"
  | "retry"
  | "waiting"
  | "paused"
  | "sleeping"
  | "succeeded"
  | "failed"
  | "exchange-ok"
  | "exchange-failed";

export interface Bar {
  start: number;
  end: number;
  kind: BarKind;
  /** What the bar is, in words: its tooltip and what a screen reader hears. */
  label: string;
  /** An exchange's id, so its bar can point at its details below. */
  exchangeId?: string;
}

export interface Lane {
  key: string;
  label: string;
  depth: 0 | 1;
  bars: Bar[];
}

export interface Waterfall {
  start: number;
  end: number;
  lanes: Lane[];
}

const laneState: Partial<Record<StateChange["state"], BarKind>> = {
  queued: "queued",
  claimed: "running",
  "retry scheduled": "retry",
  waiting: "waiting",
  paused: "paused",
  resumed: "queued",
  sleeping: "sleeping",
  interrupted: "queued",
  replayed: "queued",
};

export function buildWaterfall(detail: RunDetail, now: number): Waterfall {
  const created = toEpochMs(detail.run.createdAt) ?? now;
  const finished = toEpochMs(detail.run.finishedAt);
  const exchangeEnds = detail.exchanges.map((e) => (toEpochMs(e.at) ?? created) + e.durationMs);
  const end = Math.max(finished ?? now, ...exchangeEnds, created + 1);

  const lanes: Lane[] = [{ key: "run", label: "Run", depth: 0, bars: runBars(detail.stateChanges, end) }];
  const stepNames = detail.steps.map((step) => step.name);
  for (const step of detail.steps) {
    lanes.push({
      key: `step:${step.name}`,
      label: step.name,
      depth: 0,
      bars: step.attempts.flatMap((attempt): Bar[] => {
        const attemptEnd = toEpochMs(attempt.finishedAt);
        const attemptStart = toEpochMs(attempt.startedAt) ?? attemptEnd;
        if (attemptEnd === null || attemptStart === null) return [];
        const what = `attempt ${attempt.attempt ?? "?"} ${attempt.outcome}`;
        const took = attempt.durationMs === null ? "" : `, ${formatDuration(attempt.durationMs)}`;
        return [{ start: attemptStart, end: attemptEnd, kind: attempt.outcome, label: `${step.name}: ${what}${took}` }];
      }),
    });
    lanes.push(...exchangeLanes(detail, step.name));
  }
  // Requests sent outside any journaled step (or by a step not journaled yet, as the run is in flight).
  const loose = detail.exchanges.filter((e) => e.stepName === null || !stepNames.includes(e.stepName));
  for (const exchange of loose) lanes.push(exchangeLane(exchange));
  return { start: created, end, lanes };
}

function runBars(changes: StateChange[], end: number): Bar[] {
  const bars: Bar[] = [];
  changes.forEach((change, index) => {
    const kind = laneState[change.state];
    const start = toEpochMs(change.at);
    if (!kind || start === null) return;
    const next = changes[index + 1];
    const stop = next ? (toEpochMs(next.at) ?? end) : end;
    const reason = change.detail ? `: ${change.detail}` : "";
    const on = change.connectionId ? ` on ${change.connectionId}` : "";
    bars.push({ start, end: stop, kind, label: `${change.state}${on}, ${formatDuration(stop - start)}${reason}` });
  });
  return bars;
}

function exchangeLanes(detail: RunDetail, stepName: string): Lane[] {
  return detail.exchanges.filter((exchange) => exchange.stepName === stepName).map(exchangeLane);
}

function exchangeLane(exchange: RunDetail["exchanges"][number]): Lane {
  const start = toEpochMs(exchange.at) ?? 0;
  const failed = exchange.status === null || exchange.status >= 400;
  const path = shortUrl(exchange.url);
  return {
    key: `exchange:${exchange.id}`,
    label: `${exchange.method} ${path}`,
    depth: 1,
    bars: [
      {
        start,
        end: start + exchange.durationMs,
        kind: failed ? "exchange-failed" : "exchange-ok",
        label: `${exchange.method} ${path} → ${exchange.status ?? exchange.error ?? "no answer"}, ${formatDuration(exchange.durationMs)}`,
        exchangeId: exchange.id,
      },
    ],
  };
}

function shortUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return url;
  }
}
