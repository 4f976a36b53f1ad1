import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { newId } from "../../src/runtime/ids.ts";

describe("newId", () => {
  it("gives valid UUIDv7s that are unique and sort in the order they were made, many to a millisecond", () => {
    // 10,000 ids span about 40 draws of the random pool and many ids per millisecond.
    const ids = Array.from({ length: 10_000 }, () => newId());
    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const millisecondsUsed = new Set(ids.map((id) => id.slice(0, 13))).size;
    expect(millisecondsUsed).toBeLessThan(ids.length);
  });

  it("carry the time they were made", () => {
    const before = Date.now();
    const id = newId();
    const after = Date.now();
    const msecs = Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);
    // Equal to the clock, or a little ahead when an earlier millisecond's counter overflowed.
    expect(msecs).toBeGreaterThanOrEqual(before);
    expect(msecs).toBeLessThanOrEqual(after + 1);
  });
});
