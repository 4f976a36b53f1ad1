/** The time ranges a filter offers, as the read API's "duration back from now" (`since=24h`). */
export const ranges = [
  { value: "", label: "Any time" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
];

const hours: Record<string, number> = { "1h": 1, "24h": 24, "7d": 168 };

/** The range's start as a date-time, for a request that takes one (a bulk replay fixes it when it starts). */
export function rangeStart(value: string, now = Date.now()): string {
  return new Date(now - (hours[value] ?? 0) * 3_600_000).toISOString();
}

/** "last 24 hours", for a sentence. */
export function rangeWords(value: string): string {
  return ranges.find((range) => range.value === value)?.label.toLowerCase() ?? value;
}
