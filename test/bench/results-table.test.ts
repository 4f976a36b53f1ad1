import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatTable, readResults, tableRows, targetsWithoutFigures } from "../../bench/results-table.ts";

// `npm run bench` prints this table: a figure shown against the wrong target, or an old file taken for a new one,
// would send the reader after the wrong problem.
describe("the table of all bench figures", () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tenon-bench-table-"));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function write(bench: string, content: unknown, writtenAt?: Date): void {
    const path = join(dir, `${bench}.json`);
    writeFileSync(path, JSON.stringify(content));
    if (writtenAt) utimesSync(path, writtenAt, writtenAt);
  }

  it("reads both shapes of result file, and judges each figure that has a target", () => {
    write("e2e", [
      { name: "sqlite.runs_per_s_ratio_to_bare", value: 0.62, unit: "x" },
      { name: "sqlite.cpu_per_run", value: 0.8, unit: "ms" },
      { name: "postgres.lost", value: 0, unit: "runs" },
      { name: "sqlite.doubled", value: 2, unit: "deliveries" },
      { name: "sqlite.peak_rss", value: 180, unit: "MiB" },
    ]);
    write("http", {
      date: "2026-01-01T00:00:00.000Z",
      metrics: [{ name: "tenon.req_per_s_ratio_to_raw", value: 0.81, unit: "x" }],
    });
    write("reconcile", [
      { name: "sqlite peak RSS growth", value: 113, unit: "MB" },
      { name: "postgres peak RSS growth", value: 78, unit: "MB" },
    ]);

    const rows = tableRows(readResults(dir));
    const verdicts = Object.fromEntries(rows.map((r) => [`${r.bench} ${r.name}`, [r.target, r.met]]));
    expect(verdicts).toEqual({
      "e2e sqlite.runs_per_s_ratio_to_bare": ["≥ 0.5×", true],
      "e2e sqlite.cpu_per_run": ["≤ 0.5 ms", false],
      "e2e postgres.lost": ["= 0 runs", true],
      "e2e sqlite.doubled": ["= 0 deliveries", false],
      "e2e sqlite.peak_rss": [undefined, undefined],
      "http tenon.req_per_s_ratio_to_raw": ["≥ 0.8×", true],
      "reconcile sqlite peak RSS growth": ["≤ 100 MB", false],
      "reconcile postgres peak RSS growth": ["≤ 100 MB", true],
    });
  });

  it("marks a file this run did not write, and counts rather than lists the figures of single rounds", () => {
    const runStarted = new Date("2026-03-01T12:00:00.000Z");
    write("engine", [{ name: "sqlite.runs_per_s", value: 9500, unit: "runs/s" }], new Date("2026-02-01T00:00:00.000Z"));
    write(
      "http",
      [
        { name: "tenon.req_per_s", value: 4000, unit: "req/s" },
        { name: "rounds.tenon.1.req_per_s", value: 3900, unit: "req/s" },
        { name: "rounds.tenon.2.req_per_s", value: 4000, unit: "req/s" },
      ],
      new Date("2026-03-01T12:05:00.000Z"),
    );

    const lines = formatTable(readResults(dir), runStarted);
    const header = (bench: string) => lines.find((line) => line.startsWith(`${bench} `)) ?? "";
    expect(header("engine")).toContain("NOT by this run");
    expect(header("http")).not.toContain("NOT by this run");
    expect(
      lines.some((line) => /sqlite\.runs_per_s\s+9,500 runs\/s\s+≥ 9,000 runs\/s PASS \(issue 18\)/.test(line)),
    ).toBe(true);
    expect(lines.some((line) => line.includes("rounds.tenon"))).toBe(false);
    expect(lines).toContain(`${"".padEnd(11)} (2 figures per round or phase: in the file)`);
  });

  it("names the targets of a bench that has results but no figure for them", () => {
    write("e2e", [{ name: "sqlite.runs_per_s_ratio_to_bare", value: 0.5, unit: "x" }]);
    write("engine", [{ name: "sqlite.runs_per_s", value: 9500, unit: "runs/s" }]);

    const missing = targetsWithoutFigures(readResults(dir)).map((t) => String(t.metric));
    expect(missing).toContain("sqlite.cpu_per_run");
    expect(missing).toContain("postgres.runs_per_s_ratio_to_bare");
    expect(missing).not.toContain("sqlite.runs_per_s_ratio_to_bare");
    expect(missing).toContain("postgres.ratio_to_graphile_worker");
    // The instrumentation's cost is measured only with BENCH_INSTRUMENTATION=compare.
    expect(missing).not.toContain(String(/\.instrumentation_on_off_ratio$/));
    // Benches without a result file are not reported: they did not run.
    expect(missing).not.toContain("tenon.req_per_s_ratio_to_raw");
  });

  it("refuses a file that is not a bench result, naming it", () => {
    write("broken", { figures: [1, 2, 3] });

    expect(() => readResults(dir)).toThrow(
      `${join(dir, "broken.json")} is not a bench result: expected [{ name, value, unit }] or { metrics: [{ name, value, unit }] }`,
    );
  });
});
