import { performance } from "node:perf_hooks";
import { overviewPolls, pollMs, pollUrl, sessionPath } from "../dashboard/src/api/polling.ts";

export interface PollingStats {
  /** Requests answered (any status), and those that failed (no answer, or not a 2xx). */
  requests: number;
  errors: number;
  /** The first failure, to say what went wrong. */
  firstError: string | null;
  /** Request → whole answer read, ms. */
  latenciesMs: number[];
}

export interface OpenDashboards {
  /** Stops the polling, waits for the requests under way, and tells what was asked and how it went. */
  close(): Promise<PollingStats>;
}

/**
 * `count` overviews open in browsers, as far as the engine can tell: each signs in with the token (a session
 * cookie, as the page's sign-in does), asks for its session and the overview's data at once as the page's first
 * load does (api/queries.ts prefetchFirstPage), then asks each of the overview's queries again at its interval
 * (dashboard/src/api/polling.ts, the same constants the app uses). The dashboards open spread over one poll
 * interval, as people do not open them in the same millisecond. Like TanStack Query, a poll whose previous answer
 * has not come yet is not sent again.
 */
export async function openDashboards(options: { url: string; token: string; count: number }): Promise<OpenDashboards> {
  const stats: PollingStats = { requests: 0, errors: 0, firstError: null, latenciesMs: [] };
  const timers: NodeJS.Timeout[] = [];
  const inFlight = new Set<Promise<void>>();
  let closed = false;

  const ask = async (cookie: string, path: string): Promise<void> => {
    const started = performance.now();
    try {
      const response = await fetch(`${options.url}${path}`, { headers: { cookie } });
      await response.arrayBuffer();
      if (!response.ok) fail(`${path} answered ${response.status}`);
    } catch (error) {
      fail(`${path}: ${(error as Error).message}`);
    }
    stats.requests += 1;
    stats.latenciesMs.push(performance.now() - started);
  };
  const fail = (what: string) => {
    stats.errors += 1;
    stats.firstError ??= what;
  };
  const track = (request: Promise<void>) => {
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
    return request;
  };

  const open = (cookie: string) => {
    void track(ask(cookie, sessionPath));
    for (const poll of overviewPolls) {
      let pending: Promise<void> | null = null;
      const send = () => {
        if (closed || pending) return;
        pending = track(ask(cookie, pollUrl(poll))).finally(() => {
          pending = null;
        });
      };
      send();
      timers.push(setInterval(send, poll.everyMs));
    }
  };

  for (let n = 0; n < options.count; n += 1) {
    const cookie = await signIn(options.url, options.token);
    timers.push(setTimeout(() => open(cookie), Math.round((n * pollMs) / options.count)));
  }

  return {
    async close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.all(inFlight);
      return stats;
    },
  };
}

/** The session cookie `POST /auth/session` sets, as a `cookie` header's value. */
export async function signIn(url: string, token: string): Promise<string> {
  const response = await fetch(`${url}${sessionPath}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  const cookie = response.headers.getSetCookie()[0]?.split(";")[0];
  if (response.status !== 200 || !cookie) throw new Error(`signing in answered ${response.status}: no session cookie`);
  return cookie;
}
