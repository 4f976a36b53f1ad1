import { NonRetryableError, ValidationError } from "../sdk/errors.ts";

/**
 * Serialises a value for the journal, refusing what JSON would silently drop or
 * mangle (functions, symbols, bigint, cycles, non-finite numbers), so a replayed
 * run sees exactly what the first execution saw. Returns null for undefined.
 */
export function toJournalJson(value: unknown): string | null {
  if (value === undefined) return null;
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

export function fromJournalJson(json: string | null): unknown {
  return json === null ? undefined : JSON.parse(json);
}

/** For event payloads: a clear error for the sender, nothing stored. */
export function payloadToJson(payload: unknown): string {
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
