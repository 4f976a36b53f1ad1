import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseRateLimit } from "../../../src/connections/http/rate-limit-policy.ts";
import { ConfigurationError } from "../../../src/sdk/errors.ts";

describe("a connection's rateLimit", () => {
  it("is a count per time unit", () => {
    expect(parseRateLimit("5/s")).toEqual({ ratePerSecond: 5, burst: 1 });
    expect(parseRateLimit("60/min")).toEqual({ ratePerSecond: 1, burst: 1 });
    expect(parseRateLimit("60/m")).toEqual({ ratePerSecond: 1, burst: 1 });
    expect(parseRateLimit("3600/h")).toEqual({ ratePerSecond: 1, burst: 1 });
    expect(parseRateLimit("86400/d")).toEqual({ ratePerSecond: 1, burst: 1 });
    expect(parseRateLimit("1/ms")).toEqual({ ratePerSecond: 1000, burst: 1 });
  });

  it("is a count per window of any duration", () => {
    expect(parseRateLimit("100 per 10s")).toEqual({ ratePerSecond: 10, burst: 1 });
    expect(parseRateLimit("100 per 10 s")).toEqual({ ratePerSecond: 10, burst: 1 });
    expect(parseRateLimit("1000 per 1h").ratePerSecond).toBeCloseTo(1000 / 3600);
    expect(parseRateLimit("2 per 500ms")).toEqual({ ratePerSecond: 4, burst: 1 });
    expect(parseRateLimit("3 per 1.5s")).toEqual({ ratePerSecond: 2, burst: 1 });
    expect(parseRateLimit("30 per min")).toEqual({ ratePerSecond: 0.5, burst: 1 });
    expect(parseRateLimit("100/10s")).toEqual({ ratePerSecond: 10, burst: 1 });
  });

  it("spreads requests evenly unless a burst is given", () => {
    expect(parseRateLimit("10/s").burst).toBe(1);
    expect(parseRateLimit("10/s burst 20")).toEqual({ ratePerSecond: 10, burst: 20 });
    expect(parseRateLimit("100 per 10s burst 5")).toEqual({ ratePerSecond: 10, burst: 5 });
    expect(parseRateLimit("10/s, burst 1")).toEqual({ ratePerSecond: 10, burst: 1 });
  });

  it("forgives spacing and case", () => {
    expect(parseRateLimit("  5 / s  ")).toEqual({ ratePerSecond: 5, burst: 1 });
    expect(parseRateLimit("60/MIN")).toEqual({ ratePerSecond: 1, burst: 1 });
    expect(parseRateLimit("100 PER 10S BURST 3")).toEqual({ ratePerSecond: 10, burst: 3 });
  });

  it("refuses anything else with a message that quotes it and shows what works", () => {
    for (const spec of [
      "",
      "5",
      "fast",
      "5/sec",
      "5/y",
      "5 per",
      "per 10s",
      "-5/s",
      "5.5/s",
      "1e3/s",
      "5/s burst",
      "5/s 20",
    ]) {
      expect(() => parseRateLimit(spec), spec).toThrow(ConfigurationError);
    }
    expect(() => parseRateLimit("5/sec")).toThrow(/rateLimit "5\/sec" is not understood.*"10\/s burst 20"/);
  });

  it("refuses limits that allow nothing", () => {
    expect(() => parseRateLimit("0/s")).toThrow(/"0\/s" needs a whole count of at least 1/);
    expect(() => parseRateLimit("10 per 0s")).toThrow(ConfigurationError);
    expect(() => parseRateLimit("99999999999999999999/s")).toThrow(ConfigurationError);
  });

  it("refuses a burst that is not a whole number of at least 1", () => {
    for (const spec of ["5/s burst 0", "5/s burst 2.5", "5/s burst -1", "5/s burst many"]) {
      expect(() => parseRateLimit(spec), spec).toThrow(/burst .* a whole number of requests, at least 1/);
    }
  });

  it("gives the same rate for the same limit however it is written", () => {
    const units = [
      ["s", 1000],
      ["m", 60_000],
      ["min", 60_000],
      ["h", 3_600_000],
    ] as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom(...units),
        fc.integer({ min: 1, max: 1000 }),
        (count, amount, [unit, unitMs], burst) => {
          const expected = count / ((amount * unitMs) / 1000);
          const slash = amount === 1 ? parseRateLimit(`${count}/${unit}`) : parseRateLimit(`${count}/${amount}${unit}`);
          const per = parseRateLimit(`${count} per ${amount} ${unit} burst ${burst}`);
          expect(slash.ratePerSecond).toBeCloseTo(expected, 10);
          expect(per).toEqual({ ratePerSecond: slash.ratePerSecond, burst });
        },
      ),
    );
  });

  it("either parses to a positive finite rate or throws a ConfigurationError, for any text", () => {
    fc.assert(
      fc.property(fc.string(), (spec) => {
        try {
          const { ratePerSecond, burst } = parseRateLimit(spec);
          expect(ratePerSecond).toBeGreaterThan(0);
          expect(Number.isFinite(ratePerSecond)).toBe(true);
          expect(Number.isInteger(burst) && burst >= 1).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigurationError);
        }
      }),
    );
  });
});
