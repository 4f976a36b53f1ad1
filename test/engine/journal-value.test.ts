import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPlainJson, payloadToJson, toJournalJson } from "../../src/engine/journal-value.ts";

/** What the journal stored before its quick path: JSON.stringify with a replacer that refuses what JSON cannot hold. */
function exactJournalJson(value: unknown): string | null {
  if (value === undefined) return null;
  const seen: string[] = [];
  const json = JSON.stringify(value, (key, v: unknown) => {
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

function outcome(serialise: () => string | null): { json: string | null } | { error: string } {
  try {
    return { json: serialise() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** JSON values, and values JSON mangles or refuses, anywhere inside them. */
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(undefined, Number.NaN, Number.POSITIVE_INFINITY, -0, 10n, Symbol("s"), () => 1, new Date(0)),
    fc.constantFrom(new Map([["a", 1]]), new Uint8Array([1, 2]), Object.create({ inherited: () => 1 })),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie("value"), { maxKeys: 4 }),
  ),
})).value;

describe("journal values", () => {
  it("the quick path stores every value exactly as the exact path does, and refuses the same ones with the same reason", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(outcome(() => toJournalJson(value))).toEqual(outcome(() => exactJournalJson(value)));
      }),
      { numRuns: 2000 },
    );
  });

  it("a cyclic value is refused, and a value too large to check quickly still goes through the exact path", () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    expect(isPlainJson(cycle)).toBe(false);
    expect(() => toJournalJson(cycle)).toThrow(/circular/);
    const large = Array.from({ length: 20_000 }, (_, i) => (i === 19_999 ? Number.NaN : i));
    expect(isPlainJson(large)).toBe(false);
    expect(() => toJournalJson(large)).toThrow(/"19999" is NaN/);
  });

  it("a payload's own JSON text is stored as it came; one holding a number JSON cannot store is refused as before", () => {
    const text = '{ "amount": 12345678901234567890, "note": "caf\\u00e9" }';
    expect(payloadToJson(JSON.parse(text), text)).toBe(text);
    const overflowing = '{"amount":1e400}';
    expect(() => payloadToJson(JSON.parse(overflowing), overflowing)).toThrow(/"amount" is Infinity/);
  });
});
