/** Local time, to the second: operators compare it with their wall clock, not with UTC logs. */
export function formatLocalTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** How long ago, in the largest whole unit that keeps it readable: "45 s ago", "3 min ago", "5 h ago", "2 d ago". */
export function formatAge(epochMs: number, now: number): string {
  const elapsed = now - epochMs;
  const phrase = describeSpan(Math.abs(elapsed));
  // A time ahead of this machine's clock (another worker's clock, a scheduled availability) reads forward.
  return elapsed < 0 ? `in ${phrase}` : `${phrase} ago`;
}

/** "2026-12-06 07:50:12 (3 min ago)". */
export function formatLocalTimeWithAge(epochMs: number, now: number): string {
  return `${formatLocalTime(epochMs)} (${formatAge(epochMs, now)})`;
}

function describeSpan(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}
