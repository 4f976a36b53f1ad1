import { describe, expect, it } from "vitest";
import { appendKept, setKept } from "../../src/sandbox/systems/record-limits.ts";

describe("record limits of the sandbox systems", () => {
  it("keep the newest records of a list or a map, handing each dropped one back to be unindexed", () => {
    const dropped: number[] = [];
    const list: number[] = [];
    for (const record of [1, 2, 3, 4]) appendKept(list, record, (oldest) => dropped.push(oldest), 3);
    expect(list).toEqual([2, 3, 4]);

    const map = new Map<string, number>();
    for (const record of [5, 6, 7]) setKept(map, `id-${record}`, record, (oldest) => dropped.push(oldest), 2);
    expect([...map.keys()]).toEqual(["id-6", "id-7"]);
    expect(dropped).toEqual([1, 5]);
  });
});
