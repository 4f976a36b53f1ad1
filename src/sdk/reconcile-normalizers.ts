import { ConfigurationError } from "./errors.ts";

/** A compared value after normalising: what two systems' fields are compared as. */
export type NormalizedValue = string | number | boolean | null;

/**
 * Turns a field as an API returns it into the value it is compared as: `"12.50"` and `12.5` into 1250 cents,
 * `" Ada@Example.com "` into `"ada@example.com"`. Absent values (undefined, null, blank) become null.
 */
export type Normalizer = (value: unknown) => NormalizedValue;

/**
 * Money in minor units (an integer: cents, yen, fils), rounded half away from zero at the currency's
 * precision (2 decimals for USD, 0 for JPY, 3 for KWD), so `"12.345"` dollars and `12.35` compare equal.
 * Reads numbers and decimal strings (`"1,234.50"`, `"$12.50"`: grouping commas and a symbol are dropped).
 */
export function money(options: { currency?: string } = {}): Normalizer {
  const currency = (options.currency ?? "USD").toUpperCase();
  let decimals: number;
  try {
    decimals =
      new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    throw new ConfigurationError(`money({ currency: "${currency}" }): not an ISO 4217 currency code, e.g. "USD"`);
  }
  return (value) => {
    if (value === null || value === undefined) return null;
    const text = (typeof value === "number" ? numberText(value) : String(value)).replace(/[,\s$€£¥]/g, "");
    if (text === "") return null;
    const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
    if (!match || (match[2] === "" && (match[3] ?? "") === "")) return text;
    const sign = match[1] === "-" ? -1 : 1;
    const fraction = match[3] ?? "";
    const kept = Number(`${match[2] || "0"}${fraction.slice(0, decimals).padEnd(decimals, "0")}`);
    const roundUp = Number(fraction[decimals] ?? "0") >= 5;
    return sign * (kept + (roundUp ? 1 : 0));
  };
}

/** A number's decimal digits without exponent notation (1e-7 → "0.0000001"), so money() reads it exactly. */
function numberText(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const text = String(value);
  return /e/i.test(text) ? value.toFixed(20).replace(/0+$/, "") : text;
}

/** Letters compared without case: `"Ada@Example.COM"` equals `"ada@example.com"`. */
export function caseInsensitive(): Normalizer {
  return (value) => (isBlank(value) ? null : String(value).toLowerCase());
}

/** Whitespace trimmed at both ends and runs of it inside collapsed to one space. */
export function whitespace(): Normalizer {
  return (value) => (isBlank(value) ? null : String(value).trim().replace(/\s+/g, " "));
}

/** A number (from a number or a numeric string), for tolerances: `"3.0"` equals `3`. */
export function number(): Normalizer {
  return (value) => {
    if (isBlank(value)) return null;
    const parsed = typeof value === "number" ? value : Number(String(value).trim());
    return Number.isNaN(parsed) ? String(value) : parsed;
  };
}

/**
 * A point in time, as epoch milliseconds, so `2025-05-02T09:14:33-07:00` equals `2025-05-02T16:14:33Z`. A
 * date-time without an offset (or a bare date, read as its midnight) is read as wall-clock time in `timeZone`
 * (an IANA name, default UTC). Pair with a tolerance in ms for systems that round: `tolerance: 1000`.
 */
export function instant(options: { timeZone?: string } = {}): Normalizer {
  const timeZone = options.timeZone ?? "UTC";
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  } catch {
    throw new ConfigurationError(
      `instant({ timeZone: "${timeZone}" }): not a time zone; use an IANA name, e.g. "Europe/Paris"`,
    );
  }
  /** How far ahead of UTC the zone's clocks are at `epochMs`. */
  const offsetAt = (epochMs: number) => {
    const parts = Object.fromEntries(format.formatToParts(new Date(epochMs)).map((p) => [p.type, p.value]));
    const wall = Date.UTC(
      Number(parts.year),
      Number(parts.month) - 1,
      Number(parts.day),
      Number(parts.hour),
      Number(parts.minute),
      Number(parts.second),
    );
    return wall - Math.floor(epochMs / 1000) * 1000;
  };
  return (value) => {
    if (isBlank(value)) return null;
    if (typeof value === "number") return value;
    if (value instanceof Date) return value.getTime();
    const text = String(value).trim();
    const naive = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/.exec(text);
    if (!naive) {
      const parsed = Date.parse(text);
      return Number.isNaN(parsed) ? text : parsed;
    }
    const [, y, mo, d, h = "0", mi = "0", s = "0", ms = "0"] = naive;
    const wall = Date.UTC(
      Number(y),
      Number(mo) - 1,
      Number(d),
      Number(h),
      Number(mi),
      Number(s),
      Number(ms.padEnd(3, "0")),
    );
    // The zone's offset at that wall time, checked once more across a daylight-saving change.
    const first = wall - offsetAt(wall);
    return wall - offsetAt(first);
  };
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === "string" && value.trim() === "");
}

/** The built-in normalisers, for `compare: { total: { …, normalize: normalizers.money({ currency: "USD" }) } }`. */
export const normalizers = { money, caseInsensitive, whitespace, number, instant };
