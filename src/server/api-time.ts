/**
 * A time given to the API (a query parameter or a JSON field): an ISO 8601 date-time (`2030-01-31T00:00:00Z`)
 * or epoch milliseconds. Undefined when absent; null when it is neither.
 */
export function parseApiTime(value: unknown): number | null | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== "string" || value === "") return null;
  if (/^\d+$/.test(value)) return Number.isSafeInteger(Number(value)) ? Number(value) : null;
  // Date.parse accepts many forms; only date-times with a time zone are unambiguous.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export const apiTimeHint = "an ISO 8601 date-time with a time zone (2030-01-31T00:00:00Z) or epoch milliseconds";
