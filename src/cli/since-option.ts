import { InvalidArgumentError } from "commander";
import { type Duration, durationToMs } from "../sdk/duration.ts";

/**
 * `--since 1h`: how far back, as a duration with its unit (30m, 1h, 2d, 90s). A bare number is refused: an
 * operator typing `--since 30` means minutes as often as seconds.
 */
export function parseSinceOption(value: string): number {
  if (!/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value)) {
    throw new InvalidArgumentError("must be a duration with its unit, such as 30m, 1h or 2d");
  }
  const ms = durationToMs(value as Duration);
  if (ms <= 0) throw new InvalidArgumentError("must be longer than zero");
  return ms;
}
