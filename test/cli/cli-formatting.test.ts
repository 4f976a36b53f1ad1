import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { formatAge } from "../../src/cli/local-time.ts";
import { parseSinceOption } from "../../src/cli/since-option.ts";
import { wrapText } from "../../src/cli/wrap-text.ts";

const now = Date.UTC(2026, 11, 6, 8, 0, 0);

describe("what the CLI's lists show", () => {
  it("an age is told in the largest unit that keeps it readable, and a time ahead of the clock reads forward", () => {
    expect(formatAge(now - 45_000, now)).toBe("45 s ago");
    expect(formatAge(now - 3 * 60_000 - 59_000, now)).toBe("3 min ago");
    expect(formatAge(now - 5 * 3_600_000, now)).toBe("5 h ago");
    expect(formatAge(now - 47 * 3_600_000, now)).toBe("47 h ago");
    expect(formatAge(now - 3 * 86_400_000, now)).toBe("3 d ago");
    expect(formatAge(now + 2 * 60_000, now)).toBe("in 2 min");
  });

  it("--since takes a duration with its unit and refuses a bare number or zero", () => {
    expect(parseSinceOption("30m")).toBe(30 * 60_000);
    expect(parseSinceOption("1h")).toBe(3_600_000);
    expect(parseSinceOption("2d")).toBe(2 * 86_400_000);
    expect(() => parseSinceOption("30")).toThrow(InvalidArgumentError);
    expect(() => parseSinceOption("0h")).toThrow(InvalidArgumentError);
    expect(() => parseSinceOption("1w")).toThrow(InvalidArgumentError);
  });

  it("wrapping breaks at spaces, keeps the text's own line breaks, and cuts a word longer than a line", () => {
    expect(wrapText("create invoice failed: the accounting API answered 400", 20)).toEqual([
      "create invoice",
      "failed: the",
      "accounting API",
      "answered 400",
    ]);
    expect(wrapText("first line\nsecond", 20)).toEqual(["first line", "second"]);
    expect(wrapText("see https://example.com/a/very/long/path now", 12)).toEqual([
      "see",
      "https://exam",
      "ple.com/a/ve",
      "ry/long/path",
      "now",
    ]);
  });

  it("wrapping keeps each line's indentation, on its continuation lines too (pretty-printed JSON)", () => {
    expect(wrapText('{\n  "note": "paid by card on delivery"\n}', 20)).toEqual([
      "{",
      '  "note": "paid by',
      '  card on delivery"',
      "}",
    ]);
  });
});
