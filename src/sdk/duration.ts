import { ConfigurationError } from "./errors.ts";

/** A duration: milliseconds as a number, or a string such as "500ms", "30s", "5m", "2h", "1d". */
export type Duration = number | `${number}${"ms" | "s" | "m" | "h" | "d"}`;

const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function durationToMs(duration: Duration): number {
  if (typeof duration === "number") {
    if (!Number.isFinite(duration) || duration < 0) {
      throw new ConfigurationError(`duration must be a non-negative number of milliseconds, got ${duration}`);
    }
    return duration;
  }
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(duration);
  if (!match) {
    throw new ConfigurationError(`duration "${duration}" is not understood; use e.g. 500ms, 30s, 5m, 2h or 1d`);
  }
  return Number(match[1]) * unitMs[match[2] as keyof typeof unitMs];
}
