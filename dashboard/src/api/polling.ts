/**
 * What the dashboard asks the engine for while it is open, and how often. Plain data, no browser: the polling
 * bench (bench/engine.ts, BENCH_DASHBOARDS) imports it to replay exactly what an open overview asks, and the
 * build (vite.config.ts) to tell the server what the first page asks first, so that the server can have the
 * browser preload it (src/server/dashboard-routes.ts).
 */

/** Live data is asked for again every 5 s (api/live.ts). */
export const pollMs = 5000;

export interface Poll {
  path: string;
  query: Record<string, string>;
  /** How often an open page asks again. */
  everyMs: number;
}

export const healthPoll: Poll = { path: "/api/health", query: {}, everyMs: pollMs };

export const firingAlertsPoll: Poll = {
  path: "/api/alerts",
  query: { status: "firing", limit: "20" },
  everyMs: pollMs,
};

/** The throughput charts: the server reuses an answer 10 s (last hour) and 60 s (last day) anyway. */
export const throughputPolls = {
  "1h": { path: "/api/stats/throughput", query: { window: "1h" }, everyMs: 10_000 },
  "24h": { path: "/api/stats/throughput", query: { window: "24h" }, everyMs: 60_000 },
} satisfies Record<string, Poll>;

/** The session, asked once when the page loads (it is kept until a request answers 401). */
export const sessionPath = "/auth/session";

/** An open overview: each of these at its interval (pages/Overview.tsx, pages/overview/throughput.ts). */
export const overviewPolls: readonly Poll[] = [
  healthPoll,
  firingAlertsPoll,
  throughputPolls["1h"],
  throughputPolls["24h"],
];

/** The URL a poll asks, exactly: a preload is used only by a request for the very same URL. */
export function pollUrl(poll: Poll): string {
  const query = new URLSearchParams(poll.query).toString();
  return query ? `${poll.path}?${query}` : poll.path;
}

/** What the overview asks before its first render (api/queries.ts prefetchFirstPage), by the page's path. */
export const firstRequests: Record<string, string[]> = { "/": [sessionPath, ...overviewPolls.map(pollUrl)] };
