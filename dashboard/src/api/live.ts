import { keepPreviousData } from "@tanstack/react-query";
import { useEffect } from "react";
import { pollMs } from "./polling.ts";

export { pollMs };

/**
 * Live data is polled every `pollMs` (5 s, api/polling.ts). TanStack Query pauses the interval while the tab is
 * hidden (its default, refetchIntervalInBackground: false), so a dashboard left open in a background tab costs the
 * engine nothing; the previous answer stays on screen while the next one loads, so nothing jumps.
 */
export const live = { refetchInterval: pollMs, placeholderData: keepPreviousData } as const;

/** The page's title in the browser tab and history: "Runs · Tenon". */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Tenon`;
  }, [title]);
}
