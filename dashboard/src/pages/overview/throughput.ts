import { useQuery } from "@tanstack/react-query";
import { apiGet } from "../../api/client.ts";
import { pollUrl, throughputPolls } from "../../api/polling.ts";

/** `GET /api/stats/throughput`: runs created, failed and dead per bucket (docs/read-api.md). */
interface ThroughputAnswer {
  window: "1h" | "24h";
  bucketSeconds: number;
  capped: boolean;
  buckets: { at: string; created: number; failed: number; dead: number }[];
}

export interface ThroughputWindow {
  name: "1h" | "24h";
  label: string;
  /** How often the chart asks again: the server reuses an answer this long anyway (10 s and 60 s). */
  refreshMs: number;
}

export const lastHour: ThroughputWindow = {
  name: "1h",
  label: "Last hour, per minute",
  refreshMs: throughputPolls["1h"].everyMs,
};
export const lastDay: ThroughputWindow = {
  name: "24h",
  label: "Last 24 hours, per quarter hour",
  refreshMs: throughputPolls["24h"].everyMs,
};

export interface ActivityBucket {
  start: number;
  end: number;
  /** Runs created per minute in the bucket (the last one: over its elapsed part). */
  perMinute: number;
  created: number;
  /** Failed and dead among the runs created in the bucket, as a percentage; null when none was created. */
  errorRate: number | null;
}

export interface Activity {
  buckets: ActivityBucket[];
  from: number;
  to: number;
  /** The failed and dead counts stopped at the server's cap: the error rates are lower bounds. */
  capped: boolean;
}

export function throughputQuery(window: ThroughputWindow) {
  return {
    queryKey: ["throughput", window.name],
    queryFn: () => apiGet<ThroughputAnswer>(pollUrl(throughputPolls[window.name])),
    staleTime: window.refreshMs,
  };
}

export function useThroughput(window: ThroughputWindow, now: number) {
  const query = useQuery({ ...throughputQuery(window), refetchInterval: window.refreshMs });
  return { activity: query.data ? toActivity(query.data, now) : null, error: query.error };
}

function toActivity(answer: ThroughputAnswer, now: number): Activity {
  const bucketMs = answer.bucketSeconds * 1000;
  const buckets = answer.buckets.map((bucket): ActivityBucket => {
    const start = Date.parse(bucket.at);
    const end = start + bucketMs;
    const elapsedMs = Math.max(1000, Math.min(end, now) - start);
    const failed = bucket.failed + bucket.dead;
    return {
      start,
      end,
      created: bucket.created,
      perMinute: bucket.created / (elapsedMs / 60_000),
      errorRate: bucket.created === 0 ? null : Math.min(100, (100 * failed) / bucket.created),
    };
  });
  const first = buckets[0];
  const last = buckets.at(-1);
  return {
    buckets,
    from: first ? first.start : now - bucketMs,
    to: last ? last.end : now,
    capped: answer.capped,
  };
}
