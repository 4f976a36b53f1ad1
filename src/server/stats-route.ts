import type { FastifyInstance } from "fastify";
import type { Storage } from "../storage/contract.ts";
import type { Throughput } from "../storage/read-api-store.ts";
import { sendError } from "./http-errors.ts";

/** The windows the chart offers, with their bucket and how long one answer is reused (bench/engine.ts reads them). */
export const throughputWindows = {
  "1h": { lengthMs: 3_600_000, bucketMs: 60_000, reuseMs: 10_000 },
  "24h": { lengthMs: 86_400_000, bucketMs: 900_000, reuseMs: 60_000 },
} as const;
const windows = throughputWindows;
type WindowName = keyof typeof windows;

/**
 * `GET /api/stats/throughput?window=1h|24h`: runs created, failed and dead per minute over the last hour, or per
 * quarter hour over the last day (the dashboard's overview chart). Buckets are aligned to the bucket's length, the
 * last one still filling. An answer is reused for a few seconds, so any number of open dashboards cost this
 * process one query set per window and interval.
 */
export function registerStatsRoute(app: FastifyInstance, options: { storage: Storage; now: () => number }): void {
  const cached = new Map<WindowName, { until: number; answer: Promise<Throughput> }>();
  app.get<{ Querystring: { window?: string } }>("/api/stats/throughput", async (request, reply) => {
    const name = request.query.window ?? "1h";
    if (!Object.hasOwn(windows, name)) {
      return sendError(reply, 400, "invalid_window", `window must be one of: ${Object.keys(windows).join(", ")}`);
    }
    const window = windows[name as WindowName];
    const now = options.now();
    let entry = cached.get(name as WindowName);
    if (!entry || entry.until <= now) {
      const end = Math.ceil((now + 1) / window.bucketMs) * window.bucketMs;
      const answer = options.storage.readApi.throughput(end - window.lengthMs, end, window.bucketMs);
      entry = { until: now + window.reuseMs, answer };
      cached.set(name as WindowName, entry);
      // A failed query is not reused: the next request asks again.
      answer.catch(() => cached.delete(name as WindowName));
    }
    const throughput = await entry.answer;
    return {
      window: name,
      bucketSeconds: throughput.bucketMs / 1000,
      capped: throughput.capped,
      buckets: throughput.buckets.map((bucket) => ({
        at: new Date(bucket.at).toISOString(),
        created: bucket.created,
        failed: bucket.failed,
        dead: bucket.dead,
      })),
    };
  });
}
