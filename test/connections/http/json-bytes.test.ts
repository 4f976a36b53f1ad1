import { describe, expect, it } from "vitest";
import { parseJsonBytes } from "../../../src/connections/http/json-bytes.ts";

const parse = (text: string) => parseJsonBytes(Buffer.from(text, "utf8"));

/** A QuickBooks-like page: far larger than one span, records small, text of every kind inside. */
function page(records: number): string {
  const invoices = Array.from({ length: records }, (_, i) => ({
    Id: String(i + 1),
    DocNumber: `S-${1000 + i}`,
    Note: i % 7 === 0 ? 'brackets ] } [ { and "quotes", a \\ backslash, tabs\tand\nnewlines' : `plain ${i}`,
    Name: i % 5 === 0 ? "Zoë Ångström 日本 😀" : "Ann",
    TotalAmt: i * 1.25 - 3e-2,
    Big: 2 ** 60,
    Paid: i % 2 === 0,
    Memo: null,
    Line: [
      { Amount: i, Detail: { ItemRef: { value: "1" } } },
      { Amount: -i, Detail: {} },
    ],
    Empty: [],
    Nothing: {},
  }));
  return JSON.stringify({ QueryResponse: { Invoice: invoices, startPosition: 1, maxResults: records }, time: "now" });
}

describe("parseJsonBytes", () => {
  it("gives what JSON.parse gives, for a body far larger than a span and for small ones", () => {
    const large = page(2_000);
    expect(Buffer.byteLength(large)).toBeGreaterThan(256 * 1024);
    expect(parse(large)).toEqual(JSON.parse(large));
    // Formatting between the members of the containers it assembles itself.
    const pretty = JSON.stringify(JSON.parse(page(600)), null, 2).replaceAll("\n", "\r\n\t");
    expect(parse(pretty)).toEqual(JSON.parse(pretty));
    const wide = JSON.stringify(
      Array.from({ length: 30_000 }, (_, i) => (i % 3 === 0 ? i : i % 3 === 1 ? `s${i}` : [i])),
    );
    expect(parse(wide)).toEqual(JSON.parse(wide));
    for (const small of ['{"a":[1,2,{"b":"c"}]}', "[]", "{}", '"text"', "42", "-1.5e3", "true", "null", " \n[1] "]) {
      expect(parse(small)).toEqual(JSON.parse(small));
    }
  });

  it("keeps __proto__ an own field and a repeated name its first place with the last value, as JSON.parse does", () => {
    const members = Array.from({ length: 9_000 }, (_, i) => `"k${i}": ${i}`).join(", ");
    const text = `{"__proto__": {"polluted": true}, "dup": 1, ${members}, "dup": 2}`;
    const parsed = parse(text) as Record<string, unknown>;
    const native = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(Object.keys(native));
    expect(parsed.dup).toBe(2);
    expect(Object.hasOwn(parsed, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses malformed JSON with a SyntaxError, in a large container as in a small one", () => {
    const large = page(1_000);
    for (const broken of [
      `${large.slice(0, -2)}}`, // a bracket missing
      `${large.slice(0, -1)},}`, // a trailing comma
      `${large} x`, // something after the document
      large.replace('"Id":', '"Id"'), // a colon missing
      large.slice(0, 200_000), // cut off
      '{"a": tru}',
      "",
    ]) {
      expect(() => parse(broken)).toThrow(SyntaxError);
    }
  });
});
