/**
 * What an API's response says about its rate limits, turned into advice for the connection's shared
 * bucket (`RateLimitSignal` in storage/connection-store.ts): pause until a time, or spread what is
 * left of a quota until its window resets. Headers come from the outside world, so anything
 * malformed or absurd is ignored rather than thrown, and no advice reaches more than 24 h ahead.
 */

/** Epoch milliseconds, like the rest of the engine. */
export interface RateLimitAdvice {
  /** No request may start before this time. */
  pausedUntil?: number;
  /** Until `slowUntil`, requests are spread at this rate: the quota left over the time left in its window. */
  slowRatePerSecond?: number;
  slowUntil?: number;
}

/** A quota the API reported: requests left, and when its window resets (undefined: unknown). */
interface QuotaReading {
  remaining: number;
  resetAt: number | undefined;
}

/** A header that is broken or hostile must not park a connection for days. */
const maxAheadMs = 24 * 3_600_000;
/** How long a 429 pauses the connection when nothing in the response says how long. */
const defaultRefusalPauseMs = 1000;

type HeaderMap = Record<string, string | string[] | undefined>;
/** Lower-cased name → the field's values, in order (a repeated field keeps every line). */
type Fields = Map<string, string[]>;

/**
 * Reads one response. A `Retry-After` in the future, or a quota at zero with a known reset, pauses
 * until then (the later of them when there are several: a request before it would be refused by
 * one). A quota with requests left becomes a slower rate until its reset, the slowest when several
 * are reported (a burst and a daily one). A 429 always pauses: when nothing above applies, until the
 * nearest reset the API reported (it refused, so some window is spent), else for one second.
 * Returns null when the response says nothing about limits.
 */
export function readRateLimitHeaders(status: number, headers: HeaderMap, now: number): RateLimitAdvice | null {
  // Most answers say nothing about limits: known from their header names alone, before any field is read.
  if (!mentionsRateLimit(status, headers)) return null;
  const fields = collectFields(headers);
  const retryAt = readRetryAfter(fields.get("retry-after")?.[0], now);
  const quotas = [...readPrefixedQuotas(fields, now), ...readRateLimitField(fields, now)];
  const advice: RateLimitAdvice = {};

  const pauseCandidates = quotas.filter((quota) => quota.remaining <= 0).map((quota) => quota.resetAt);
  if (retryAt !== undefined && (retryAt > now || status === 429)) pauseCandidates.push(retryAt);
  const pausedUntil = latest(pauseCandidates);
  if (pausedUntil !== undefined) {
    advice.pausedUntil = pausedUntil;
  } else if (status === 429) {
    advice.pausedUntil = earliest(quotas.map((quota) => quota.resetAt)) ?? now + defaultRefusalPauseMs;
  }

  // A quota whose window ends before the pause does has nothing left to pace.
  const slowest = slowestQuota(quotas, now, advice.pausedUntil ?? now);
  if (slowest) {
    advice.slowRatePerSecond = slowest.ratePerSecond;
    advice.slowUntil = slowest.until;
  }
  return Object.keys(advice).length > 0 ? advice : null;
}

/** Every field read below has one of these in its name: `Retry-After`, `RateLimit*`, `*Rate-Limit-*`, `*RateLimit-*`. */
const rateLimitName = /retry-after|rate-?limit/i;

/** Whether an answer may say anything about limits: a 429, or a header named as the ones read here. */
export function mentionsRateLimit(status: number, headers: HeaderMap): boolean {
  if (status === 429) return true;
  for (const name of Object.keys(headers)) if (rateLimitName.test(name)) return true;
  return false;
}

function slowestQuota(
  quotas: QuotaReading[],
  now: number,
  endingAfter: number,
): { ratePerSecond: number; until: number } | undefined {
  let slowest: { ratePerSecond: number; until: number } | undefined;
  for (const { remaining, resetAt } of quotas) {
    if (remaining <= 0 || resetAt === undefined || resetAt <= endingAfter) continue;
    const ratePerSecond = remaining / ((resetAt - now) / 1000);
    if (!slowest || ratePerSecond < slowest.ratePerSecond) slowest = { ratePerSecond, until: resetAt };
  }
  return slowest;
}

// ------------------------------------------------------------------------------------------ formats

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Sent with 429 (RFC 6585 §4) and
 * 503, and by some APIs with other statuses; it is honoured whatever the status. A date in the past
 * (clock skew) means now.
 */
function readRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const seconds = readNumber(value, { negative: false });
  const at = seconds !== undefined ? now + seconds * 1000 : parseHttpDate(value.trim(), now);
  return at === undefined ? undefined : capAhead(Math.max(at, now), now);
}

/**
 * `<prefix>Remaining` with `<prefix>Reset`, whatever the prefix:
 * - `X-RateLimit-*` (GitHub, Discord and most APIs) and `X-Rate-Limit-*` (Twitter/X), whose reset is
 *   delta seconds, epoch seconds or epoch milliseconds depending on the API;
 * - vendor-prefixed forms such as HubSpot's `X-HubSpot-RateLimit-Remaining`, which gives no reset but
 *   the window's length in `X-HubSpot-RateLimit-Interval-Milliseconds`: the reset is somewhere within
 *   one interval, so the whole interval is taken as the time left (the cautious reading);
 * - draft-ietf-httpapi-ratelimit-headers-00 to -06: `RateLimit-Remaining` with `RateLimit-Reset` in
 *   delta seconds (`RateLimit-Limit` and `RateLimit-Policy` are not needed to pace requests).
 */
const remainingFieldPattern = /^((?:x-(?:[a-z0-9]+-)*?)?rate-?limit-)remaining$/;

function readPrefixedQuotas(fields: Fields, now: number): QuotaReading[] {
  const readings: QuotaReading[] = [];
  for (const [name, values] of fields) {
    const prefix = remainingFieldPattern.exec(name)?.[1];
    if (prefix === undefined) continue;
    const remaining = readNumber(values[0], { negative: true });
    if (remaining === undefined) continue;
    const resetAt =
      readReset(fields.get(`${prefix}reset`)?.[0], now) ??
      readWindow(readNumber(fields.get(`${prefix}interval-milliseconds`)?.[0], { negative: false }), now);
    readings.push({ remaining, resetAt });
  }
  return readings;
}

/**
 * The single `RateLimit` field, in either of its Structured Field shapes (RFC 8941):
 * - draft-ietf-httpapi-ratelimit-headers-07: a Dictionary, `RateLimit: limit=100, remaining=0, reset=5`
 *   (reset in delta seconds);
 * - draft-08 and later: a List of named quotas, `RateLimit: "default";r=0;t=5`, where `r` is what is
 *   left and `t` the seconds until the reset. Without `t`, the window `w` (seconds) of the policy of
 *   the same name in `RateLimit-Policy: "default";q=100;w=10` bounds the time left, and is used as it.
 */
function readRateLimitField(fields: Fields, now: number): QuotaReading[] {
  const field = fields.get("ratelimit");
  if (!field) return [];
  const windows = policyWindows(fields.get("ratelimit-policy"));
  const readings: QuotaReading[] = [];
  const dictionary = new Map<string, string>();
  for (const { item, params } of parseMembers(field.join(", "))) {
    const equals = item.indexOf("=");
    if (equals >= 0) {
      dictionary.set(item.slice(0, equals).trim().toLowerCase(), item.slice(equals + 1).trim());
      continue;
    }
    const remaining = readNumber(params.get("r"), { negative: true });
    if (remaining === undefined) continue;
    const resetAt = readReset(params.get("t"), now) ?? readWindow(windows.get(unquote(item)), now, 1000);
    readings.push({ remaining, resetAt });
  }
  const remaining = readNumber(dictionary.get("remaining"), { negative: true });
  if (remaining !== undefined) readings.push({ remaining, resetAt: readReset(dictionary.get("reset"), now) });
  return readings;
}

/** `RateLimit-Policy` (draft-08 and later): policy name → window `w` in seconds. */
function policyWindows(values: string[] | undefined): Map<string, number> {
  const windows = new Map<string, number>();
  if (!values) return windows;
  for (const { item, params } of parseMembers(values.join(", "))) {
    const window = readNumber(params.get("w"), { negative: false });
    if (window !== undefined) windows.set(unquote(item), window);
  }
  return windows;
}

// ------------------------------------------------------------------------------------------ values

function collectFields(headers: HeaderMap): Fields {
  const fields: Fields = new Map();
  for (const [name, value] of Object.entries(headers)) {
    const values = (Array.isArray(value) ? value : [value]).filter((line) => typeof line === "string");
    if (values.length === 0) continue;
    const key = name.toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), ...values]);
  }
  return fields;
}

/**
 * A reset given as a number: delta seconds, epoch seconds or epoch milliseconds, told apart by size
 * (as delta seconds, 1e9 would be 31 years). Non-numeric resets are tried as HTTP-dates.
 */
function readReset(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const number = readNumber(value, { negative: false });
  if (number === undefined) return future(parseHttpDate(value.trim(), now), now);
  if (number > 1e12) return future(number, now);
  if (number > 1e9) return future(number * 1000, now);
  return future(now + number * 1000, now);
}

/** A window whose reset is unknown but no further away than its length. */
function readWindow(length: number | undefined, now: number, unitMs = 1): number | undefined {
  return length === undefined ? undefined : future(now + length * unitMs, now);
}

/** A time that has already passed says nothing about the next window. */
function future(at: number | undefined, now: number): number | undefined {
  if (at === undefined || !Number.isFinite(at) || at <= now) return undefined;
  return capAhead(at, now);
}

function capAhead(at: number, now: number): number {
  return Math.ceil(Math.min(at, now + maxAheadMs));
}

function readNumber(value: string | undefined, options: { negative: boolean }): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const pattern = options.negative ? /^-?\d+(?:\.\d+)?$/ : /^\d+(?:\.\d+)?$/;
  if (!pattern.test(text)) return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : undefined;
}

// Reduced rather than spread into Math.max: a hostile field can list more quotas than a call takes arguments.
function latest(times: Array<number | undefined>): number | undefined {
  return times.reduce<number | undefined>(
    (max, time) => (time === undefined || (max ?? time) > time ? max : time),
    undefined,
  );
}

function earliest(times: Array<number | undefined>): number | undefined {
  return times.reduce<number | undefined>(
    (min, time) => (time === undefined || (min ?? time) < time ? min : time),
    undefined,
  );
}

// ------------------------------------------------------------------------------------------ syntax

const monthIndex: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

/**
 * An HTTP-date (RFC 9110 §5.6.7) in any of its three formats, always UTC. Written out rather than
 * left to `Date.parse`, which reads the asctime format in local time and takes "1" for a year.
 */
function parseHttpDate(text: string, now: number): number | undefined {
  const imfFixdate = /^[a-z]{3},\s*(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+gmt$/i.exec(text);
  if (imfFixdate) {
    const [, day, month, year, hour, minute, second] = imfFixdate;
    return utc(Number(year), month, day, hour, minute, second);
  }
  const rfc850 = /^[a-z]+,\s*(\d{2})-([a-z]{3})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\s+gmt$/i.exec(text);
  if (rfc850) {
    const [, day, month, year, hour, minute, second] = rfc850;
    return utc(fullYear(Number(year), now), month, day, hour, minute, second);
  }
  const asctime = /^[a-z]{3}\s+([a-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\d{4})$/i.exec(text);
  if (asctime) {
    const [, month, day, hour, minute, second, year] = asctime;
    return utc(Number(year), month, day, hour, minute, second);
  }
  return undefined;
}

/** RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is the most recent past year with those digits. */
function fullYear(twoDigits: number, now: number): number {
  const currentYear = new Date(now).getUTCFullYear();
  const candidate = currentYear - (currentYear % 100) + twoDigits;
  return candidate > currentYear + 50 ? candidate - 100 : candidate;
}

function utc(year: number, month = "", day = "", hour = "", minute = "", second = ""): number | undefined {
  const monthNumber = monthIndex[month.toLowerCase()];
  const [d, h, m, s] = [Number(day), Number(hour), Number(minute), Number(second)];
  if (monthNumber === undefined || d < 1 || d > 31 || h > 23 || m > 59 || s > 60) return undefined;
  return Date.UTC(year, monthNumber, d, h, m, s);
}

interface FieldMember {
  item: string;
  params: Map<string, string>;
}

/**
 * A tolerant reading of a Structured Field List or Dictionary (RFC 8941): members split on commas,
 * parameters on semicolons, both outside quoted strings. Enough for the rate-limit fields, and
 * forgiving of the loose spacing servers send.
 */
function parseMembers(text: string): FieldMember[] {
  return splitOutsideQuotes(text, ",").map((member) => {
    const [item = "", ...params] = splitOutsideQuotes(member, ";").map((part) => part.trim());
    const entries = params.map((param): [string, string] => {
      const equals = param.indexOf("=");
      return equals < 0
        ? [param.toLowerCase(), "?1"]
        : [param.slice(0, equals).trim().toLowerCase(), param.slice(equals + 1).trim()];
    });
    return { item, params: new Map(entries) };
  });
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quoted && char === "\\") {
      current += char + (text[index + 1] ?? "");
      index++;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (!quoted && char === separator) {
      parts.push(current);
      current = "";
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}

function unquote(item: string): string {
  return /^".*"$/s.test(item) ? item.slice(1, -1).replace(/\\(.)/gs, "$1") : item;
}
