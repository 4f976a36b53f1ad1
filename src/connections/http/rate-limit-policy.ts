import { type Duration, durationToMs } from "../../sdk/duration.ts";
import { ConfigurationError } from "../../sdk/errors.ts";

/** A connection's configured limit as the shared token bucket uses it. */
export interface RateLimitPolicy {
  /** How fast the bucket refills. */
  ratePerSecond: number;
  /** How many tokens it holds: requests that may go at once after a quiet spell. */
  burst: number;
}

// "<count>/<unit>" or "<count> per <window>", then optionally "burst <n>". The window amount may be
// left out after "/" or "per" ("60/min", "5 per s"), and may be separated from its unit by a space.
const specPattern = /^(\d+)(?:\s*\/\s*|\s+per\s+)(\d+(?:\.\d+)?)?\s*(ms|s|min|m|h|d)(?:\s*,?\s+burst\s+(\S+))?$/i;

const examples = '"5/s", "10/s burst 20", "100 per 10s", "60/min", "1000/h" or "2 per 500ms"';

/**
 * Reads `ConnectionConfig.rateLimit`. Without a burst the bucket holds a single token, so requests
 * are spread evenly and no window of the configured length ever holds more than the count; a burst
 * lets that many go at once after a quiet spell, at the cost of that guarantee.
 */
export function parseRateLimit(spec: string): RateLimitPolicy {
  const match = specPattern.exec(spec.trim());
  if (!match) {
    throw new ConfigurationError(
      `rateLimit "${spec}" is not understood; write a count per time window, e.g. ${examples}`,
    );
  }
  const [, countText = "", amountText = "1", unitText = "", burstText] = match;
  const count = Number(countText);
  const unit = unitText.toLowerCase();
  const windowMs = durationToMs(`${amountText}${unit === "min" ? "m" : unit}` as Duration);
  if (!Number.isSafeInteger(count) || count < 1 || !(windowMs > 0 && Number.isFinite(windowMs))) {
    throw new ConfigurationError(
      `rateLimit "${spec}" needs a whole count of at least 1 and a window longer than zero, e.g. ${examples}`,
    );
  }
  return { ratePerSecond: count / (windowMs / 1000), burst: parseBurst(spec, burstText) };
}

function parseBurst(spec: string, burstText: string | undefined): number {
  if (burstText === undefined) return 1;
  const burst = /^\d+$/.test(burstText) ? Number(burstText) : Number.NaN;
  if (!Number.isSafeInteger(burst) || burst < 1) {
    throw new ConfigurationError(
      `rateLimit "${spec}" has burst "${burstText}"; a burst is a whole number of requests, at least 1, e.g. "10/s burst 20"`,
    );
  }
  return burst;
}
