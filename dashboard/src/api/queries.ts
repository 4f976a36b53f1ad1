import type { QueryClient } from "@tanstack/react-query";
import { lastDay, lastHour, throughputQuery } from "../pages/overview/throughput.ts";
import { apiGet } from "./client.ts";
import { firingAlertsPoll, healthPoll, pollUrl } from "./polling.ts";
import { fetchSession } from "./session.ts";
import type { Alert, HealthReport } from "./types.ts";

/** Queries several pages share: one cache entry each, whichever page asked first. */
export const healthQuery = {
  queryKey: ["health"],
  queryFn: () => apiGet<HealthReport>(pollUrl(healthPoll)),
} as const;

export const firingAlertsQuery = {
  queryKey: ["alerts", "firing"],
  queryFn: () => apiGet<{ alerts: Alert[] }>(pollUrl(firingAlertsPoll)),
} as const;

export const sessionQuery = { queryKey: ["session"], queryFn: fetchSession } as const;

/**
 * Sent before React first renders: the session check and, when the page is the overview, the overview's own
 * data go out together instead of one after the other. Without a session those answer 401 and are asked again
 * once signed in.
 */
export function prefetchFirstPage(queryClient: QueryClient, path: string): void {
  void queryClient.prefetchQuery(sessionQuery);
  if (path !== "/") return;
  void queryClient.prefetchQuery(healthQuery);
  void queryClient.prefetchQuery(firingAlertsQuery);
  void queryClient.prefetchQuery(throughputQuery(lastHour));
  void queryClient.prefetchQuery(throughputQuery(lastDay));
}
