import { InvalidArgumentError } from "commander";
import { parseSinceOption } from "./since-option.ts";

/**
 * `--until 2h` or `--until 2026-12-06T08:00`: the end of a time window, as a duration back from now or an ISO
 * 8601 time (local unless it names a zone, as `new Date` reads it). Returns epoch milliseconds.
 */
export function parseUntilOption(value: string): number {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value)) return Date.now() - parseSinceOption(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new InvalidArgumentError("must be a duration back from now (30m, 2h) or an ISO time (2026-12-06T08:00)");
  }
  const at = new Date(value).getTime();
  if (Number.isNaN(at)) throw new InvalidArgumentError(`"${value}" is not a valid ISO 8601 time`);
  return at;
}
