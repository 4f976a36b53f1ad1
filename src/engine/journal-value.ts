import { NonRetryableError, ValidationError } from "../sdk/errors.ts";

/**
 * Serialises a value for the journal, refusing what JSON would silently drop or
 * mangle (functions, symbols, bigint, cycles, non-finite numbers), so a replayed
 * run sees exactly what the first execution saw. Returns null for undefined.
 */
export function toJournalJson(value: unknown): string | null {
  if (value === undefined) return null;
  // The common case without a replacer: JSON.stringify calling back for every value costs 3-4× as much.
  if (isPlainJson(value)) return JSON.stringify(value);
  const seen: string[] = [];
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    const where = key === "" ? "the value" : `"${key}"`;
    if (typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") {
      seen.push(`${where} is a ${typeof v}`);
      return undefined;
    }
    if (typeof v === "number" && !Number.isFinite(v)) seen.push(`${where} is ${v}`);
    return v;
  });
  if (seen.length > 0) throw new TypeError(`${seen.join("; ")}; only JSON values can be journaled`);
  return json ?? null;
}

/** Values visited before a value counts as too large to check quickly (or cyclic): it takes the exact path. */
const quickCheckLimit = 10_000;

/**
 * True when JSON.stringify would store the value exactly, as JSON.parse of the text gives it back: only
 * objects, arrays, strings, finite numbers, booleans and null (no function, symbol, bigint, non-finite
 * number or toJSON anywhere). False means "look closer", not "invalid": a large or cyclic value is false too.
 */
export function isPlainJson(value: unknown): boolean {
  const pending: unknown[] = [value];
  let visited = 0;
  while (pending.length > 0) {
    const v = pending.pop();
    if (++visited > quickCheckLimit) return false;
    switch (typeof v) {
      case "string":
      case "boolean":
        continue;
      case "number":
        if (!Number.isFinite(v)) return false;
        continue;
      case "object": {
        if (v === null) continue;
        if (Array.isArray(v)) {
          for (const item of v) pending.push(item);
          continue;
        }
        if (typeof (v as { toJSON?: unknown }).toJSON === "function") return false;
        for (const key in v) pending.push((v as Record<string, unknown>)[key]);
        continue;
      }
      default:
        return false;
    }
  }
  return true;
}

export function fromJournalJson(json: string | null): unknown {
  return json === null ? undefined : JSON.parse(json);
}

/**
 * For event payloads: a clear error for the sender, nothing stored. `parsedFrom`, the JSON text the payload was
 * parsed from (a verified webhook body), is stored as it came when it holds nothing JSON cannot (a number that
 * overflowed to Infinity is refused as if it had been serialised).
 */
export function payloadToJson(payload: unknown, parsedFrom?: string): string {
  if (parsedFrom !== undefined && isPlainJson(payload)) return parsedFrom;
  try {
    return toJournalJson(payload) ?? "null";
  } catch (error) {
    throw new ValidationError(`event payload is not JSON-serialisable: ${(error as Error).message}`);
  }
}

/** For step results: a retry would produce the same value again, so the run fails. */
export function stepResultToJson(stepName: string, value: unknown): string | null {
  try {
    return toJournalJson(value);
  } catch (error) {
    throw new NonRetryableError(
      `step "${stepName}" returned a value that cannot be journaled (${(error as Error).message}); return plain JSON data`,
    );
  }
}
