import { keepPreviousData } from "@tanstack/react-query";
import { useEffect } from "react";

/**
 * Live data is polled every 5 s. TanStack Query pauses the interval while the tab is hidden (its default,
 * refetchIntervalInBackground: false), so a dashboard left open in a background tab costs the engine nothing;
 * the previous answer stays on screen while the next one loads, so nothing jumps.
 */
export const pollMs = 5000;

export const live = { refetchInterval: pollMs, placeholderData: keepPreviousData } as const;

/** The page's title in the browser tab and history: "Runs · Tenon". */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Tenon`;
  }, [title]);
}
