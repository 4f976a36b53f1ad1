import { describe, expect, it } from "vitest";
import { compareField } from "../../src/reconciliation/key-verdicts.ts";
import { defineReconciliation, fullPassEveryMs } from "../../src/sdk/define-reconciliation.ts";
import { ConfigurationError } from "../../src/sdk/errors.ts";
import { normalizers } from "../../src/sdk/reconcile-normalizers.ts";

describe("reconciliation normalisers", () => {
  it("reads money in minor units, rounded half away from zero at the currency's precision", () => {
    const usd = normalizers.money({ currency: "USD" });
    expect(["12.50", 12.5, "12.5", "$12.50", "1,234.50", " 1234.5 "].map(usd)).toEqual([
      1250, 1250, 1250, 1250, 123450, 123450,
    ]);
    expect([usd("1.005"), usd(1.005), usd("-2.345"), usd("0.004")]).toEqual([101, 101, -235, 0]);
    expect([usd(null), usd(undefined), usd("")]).toEqual([null, null, null]);
    expect(usd("twelve")).toBe("twelve");
    expect(normalizers.money({ currency: "JPY" })("1200.6")).toBe(1201);
    expect(normalizers.money({ currency: "KWD" })("1.2345")).toBe(1235);
    expect(() => normalizers.money({ currency: "dollars" })).toThrow(ConfigurationError);
  });

  it("folds case and whitespace, and reads numbers", () => {
    const email = [normalizers.whitespace(), normalizers.caseInsensitive()];
    const fold = (value: unknown) => email.reduce<unknown>((v, normalize) => normalize(v), value);
    expect(fold("  Ada.Lovelace@Example.COM ")).toBe("ada.lovelace@example.com");
    expect(normalizers.whitespace()("a \t b\n c")).toBe("a b c");
    expect(normalizers.number()("3.0")).toBe(3);
    expect(normalizers.number()("  ")).toBeNull();
  });

  it("reads instants with or without an offset, the latter in the given time zone, across daylight saving", () => {
    const utc = normalizers.instant();
    const paris = normalizers.instant({ timeZone: "Europe/Paris" });
    const pacific = normalizers.instant({ timeZone: "America/Los_Angeles" });
    expect(utc("2025-05-02T16:14:33Z")).toBe(Date.UTC(2025, 4, 2, 16, 14, 33));
    expect(pacific("2025-05-02T09:14:33-07:00")).toBe(Date.UTC(2025, 4, 2, 16, 14, 33));
    expect(pacific("2025-05-02T09:14:33")).toBe(Date.UTC(2025, 4, 2, 16, 14, 33)); // PDT, UTC-7
    expect(pacific("2025-01-02 09:14")).toBe(Date.UTC(2025, 0, 2, 17, 14)); // PST, UTC-8
    expect(paris("2025-07-14")).toBe(Date.UTC(2025, 6, 13, 22, 0)); // midnight, CEST
    expect(utc(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(() => normalizers.instant({ timeZone: "Mars/Olympus" })).toThrow(ConfigurationError);
  });

  it("compares a field within its tolerance, each record alike or summed per key", () => {
    expect(compareField([1000], [1001], { tolerance: 1 })).toMatchObject({ equal: true });
    expect(compareField([1000], [1002], { tolerance: 1 })).toEqual({ equal: false, left: 1000, right: 1002 });
    expect(compareField([3050], [4050, -1000], { combine: "sum" })).toEqual({ equal: true, left: 3050, right: 3050 });
    expect(compareField(["a"], ["a", "b"], {})).toEqual({ equal: false, left: "a", right: ["a", "b"] });
    expect(compareField([null], [null], {})).toMatchObject({ equal: true });
  });
});

describe("defineReconciliation", () => {
  const side = { list: async () => ({ records: [], nextCursor: null }) };
  const match = { left: (r: unknown) => String(r), right: (r: unknown) => String(r) };

  it("says what is wrong with a definition when the config loads", () => {
    expect(() => defineReconciliation({ id: "Store vs Books", left: side, right: side, match })).toThrow(
      /reconciliation id "Store vs Books" must be 1-80 characters/,
    );
    expect(() => defineReconciliation({ id: "x", left: side, right: {} as typeof side, match })).toThrow(
      'reconciliation "x": right.list must be a function',
    );
    expect(() =>
      defineReconciliation({ id: "x", left: side, right: side, match: { left: match.left } as typeof match }),
    ).toThrow('reconciliation "x": match.right must be a function');
    expect(() =>
      defineReconciliation({
        id: "x",
        left: side,
        right: side,
        match,
        compare: { total: { left: () => 1, right: () => 1, tolerance: -1 } },
      }),
    ).toThrow('reconciliation "x": compare.total.tolerance must be a number ≥ 0, got -1');
    expect(() =>
      defineReconciliation({
        id: "x",
        left: side,
        right: side,
        match,
        repair: { mode: "sometimes" as "auto" },
      }),
    ).toThrow('repair.mode must be "report", "auto" or "approve"');
    expect(() =>
      defineReconciliation({
        id: "x",
        left: side,
        right: side,
        match,
        repair: { missing_right: {} as { emit: () => { type: string; payload: unknown } } },
      }),
    ).toThrow(
      "repair.missing_right must be { emit: (finding) => ({ type, payload }) } or { run: (finding, context) => … }",
    );
    expect(defineReconciliation({ id: "x", left: side, right: side, match }).mode).toBe("report");
    expect(() =>
      defineReconciliation({
        id: "x",
        left: { ...side, id: () => 1 },
        right: side,
        match,
        incremental: { fullEvery: "1d" },
      }),
    ).toThrow('reconciliation "x": incremental mode keeps the records it has seen by their id: set right.id');
    expect(() =>
      defineReconciliation({
        id: "x",
        left: { ...side, id: () => 1 },
        right: { ...side, id: () => 1 },
        match,
        incremental: { fullEvery: "daily" as "1d" },
      }),
    ).toThrow(
      'incremental must be { fullEvery: "24h" } (how often a full pass runs): duration "daily" is not understood',
    );
    expect(() =>
      defineReconciliation({ id: "x", left: { ...side, sorted: "yes" as unknown as boolean }, right: side, match }),
    ).toThrow('reconciliation "x": left.sorted must be true or false');
    const incremental = defineReconciliation({
      id: "x",
      left: { ...side, id: () => 1 },
      right: { ...side, id: () => 1 },
      match,
      incremental: { fullEvery: "2h" },
    });
    expect(fullPassEveryMs(incremental)).toBe(2 * 3_600_000);
    expect(fullPassEveryMs(defineReconciliation({ id: "x", left: side, right: side, match }))).toBeNull();
  });
});
