import { useQueries } from "@tanstack/react-query";
import { apiGet } from "../../api/client.ts";
import type { RunPage } from "../../api/types.ts";

/**
 * Throughput and error rate over time, derived from `GET /api/runs` because the API has no time-series route:
 * one page of runs per time bucket (filtered by creation time), counted here. A bucket holding more runs than one
 * page is estimated from the page: its runs cover the newest part of the bucket, so the rate over that part
 * stands for the whole (flagged `estimated`), and its error rate is that sample's. Buckets are aligned to the
 * clock, so a finished one keeps its query key and is fetched again only now and then (its runs may still end).
 */

export interface ActivityRange {
  label: string;
  bucketMs: number;
  buckets: number;
  /** Runs read per bucket: enough for an exact count at a quiet pace, a fair sample at a busy one. */
  sample: number;
}

export const lastHour: ActivityRange = { label: "Last hour", bucketMs: 5 * 60_000, buckets: 12, sample: 500 };
export const lastDay: ActivityRange = { label: "Last 24 hours", bucketMs: 3_600_000, buckets: 24, sample: 200 };

export interface ActivityBucket {
  start: number;
  end: number;
  /** Runs created per minute in the bucket (the current bucket: over its elapsed part). */
  perMinute: number;
  /** Runs created in the bucket, counted or estimated. */
  runs: number;
  /** Failed and dead among the ended runs of the bucket, as a percentage; null when none has ended. */
  errorRate: number | null;
  failed: number;
  /** Runs of the bucket that have ended (succeeded, failed or dead). */
  ended: number;
  estimated: boolean;
}

interface BucketCount {
  runs: number;
  ended: number;
  failed: number;
  /** The oldest creation time in the page: the part of the bucket the page covers starts there. */
  oldestAt: number | null;
  full: boolean;
}

/** A finished bucket's runs can still end for a while (retries, waits); after that it is settled. */
const settleMs = 15 * 60_000;

export function useRunActivity(range: ActivityRange, now: number) {
  const lastEnd = Math.ceil(now / range.bucketMs) * range.bucketMs;
  const starts = Array.from(
    { length: range.buckets },
    (_, index) => lastEnd - (range.buckets - index) * range.bucketMs,
  );
  const results = useQueries({
    queries: starts.map((start) => {
      const end = start + range.bucketMs;
      const settled = end < now - settleMs;
      return {
        queryKey: ["run-activity", range.bucketMs, start],
        queryFn: () => countBucket(start, end, range.sample),
        staleTime: settled ? 10 * 60_000 : 30_000,
        refetchInterval: settled ? false : 60_000,
      };
    }),
  });
  const buckets: (ActivityBucket | null)[] = results.map((result, index) => {
    const start = starts[index] as number;
    const end = start + range.bucketMs;
    return result.data ? toBucket(start, end, now, result.data) : null;
  });
  return {
    buckets,
    /** The span the chart shows, whole buckets: from the first bucket's start to the current one's end. */
    from: starts[0] as number,
    to: lastEnd,
    isPending: results.some((result) => result.isPending),
    error: results.find((result) => result.error)?.error ?? null,
  };
}

async function countBucket(start: number, end: number, sample: number): Promise<BucketCount> {
  const page = await apiGet<RunPage>("/api/runs", {
    since: new Date(start).toISOString(),
    until: new Date(end).toISOString(),
    limit: sample,
  });
  let ended = 0;
  let failed = 0;
  let oldestAt: number | null = null;
  for (const run of page.runs) {
    if (run.status === "succeeded") ended += 1;
    if (run.status === "failed" || run.status === "dead") {
      ended += 1;
      failed += 1;
    }
    const created = Date.parse(run.createdAt);
    if (oldestAt === null || created < oldestAt) oldestAt = created;
  }
  return { runs: page.runs.length, ended, failed, oldestAt, full: page.nextCursor !== null };
}

function toBucket(start: number, end: number, now: number, count: BucketCount): ActivityBucket {
  const observedEnd = Math.min(end, now);
  // A full page covers only [oldest run, end): scale its count to the bucket.
  const coveredFrom = count.full && count.oldestAt !== null ? count.oldestAt : start;
  const covered = Math.max(1000, observedEnd - coveredFrom);
  const elapsed = Math.max(1000, observedEnd - start);
  const scale = (n: number) => (count.full ? Math.round((n * elapsed) / covered) : n);
  return {
    start,
    end,
    runs: scale(count.runs),
    perMinute: scale(count.runs) / (elapsed / 60_000),
    errorRate: count.ended === 0 ? null : (100 * count.failed) / count.ended,
    failed: scale(count.failed),
    ended: scale(count.ended),
    estimated: count.full,
  };
}

/**
 * Coarse buckets made exact where finer ones cover them exactly: the last hour's 5-minute counts are exact up to
 * a far busier pace than one hourly sample, so the newest hours of the day chart are counted, not estimated.
 */
export function refineBuckets(
  coarse: (ActivityBucket | null)[],
  fine: (ActivityBucket | null)[],
  now: number,
): (ActivityBucket | null)[] {
  const known = fine.filter((bucket): bucket is ActivityBucket => bucket !== null && !bucket.estimated);
  return coarse.map((bucket) => {
    if (!bucket?.estimated) return bucket;
    const parts = known.filter((part) => part.start >= bucket.start && part.end <= bucket.end);
    const observedEnd = Math.min(bucket.end, now);
    const coveredMs = parts.reduce((sum, part) => sum + (part.end - part.start), 0);
    // Every 5-minute slice of the bucket's elapsed part must be there and exact.
    if (parts.length === 0 || bucket.start + coveredMs < observedEnd) return bucket;
    const runs = parts.reduce((sum, part) => sum + part.runs, 0);
    const failed = parts.reduce((sum, part) => sum + part.failed, 0);
    const ended = parts.reduce((sum, part) => sum + part.ended, 0);
    return {
      ...bucket,
      runs,
      failed,
      ended,
      perMinute: runs / (Math.max(1000, observedEnd - bucket.start) / 60_000),
      errorRate: ended === 0 ? null : (100 * failed) / ended,
      estimated: false,
    };
  });
}
