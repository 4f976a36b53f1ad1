import type { CompareField, FindingSide, Reconciliation } from "../sdk/define-reconciliation.ts";
import type { NormalizedValue } from "../sdk/reconcile-normalizers.ts";
import type {
  FindingType,
  NewReportFinding,
  ReconcileSide,
  ReconcileStore,
  ReportCounts,
  SpilledRow,
} from "../storage/reconcile-store.ts";
import { compareKeys, findingIdOf } from "./finding-id.ts";
import type { SpilledFields } from "./spill-records.ts";

/** Spilled rows read back per query, per side: what bounds the merge's memory (with the findings' buffer). */
const readPage = 1000;
const findingsBatch = 500;

interface KeyGroup {
  key: string;
  rows: SpilledRow[];
}

export type MatchCounts = Omit<ReportCounts, "leftRecords" | "rightRecords">;

/**
 * Matches the two sides a run spilled: both are read back in key order, a page at a time, and merged like two
 * sorted files, so memory holds a page of each side whatever their size. Keys on one side only are missing on
 * the other; keys on both have each compared field checked. The findings go to the run's report.
 */
export async function matchSpilled(
  store: ReconcileStore,
  runId: string,
  reconciliation: Reconciliation,
): Promise<MatchCounts> {
  const fields = Object.entries(reconciliation.compare ?? {}) as [string, CompareField<unknown, unknown>][];
  const counts: MatchCounts = {
    matched: 0,
    missingLeft: 0,
    missingRight: 0,
    mismatched: 0,
    mismatchedByField: Object.fromEntries(fields.map(([name]) => [name, 0])),
  };
  let pending: NewReportFinding[] = [];
  const add = async (finding: NewReportFinding) => {
    pending.push(finding);
    if (pending.length < findingsBatch) return;
    await store.addReportFindings(runId, pending);
    pending = [];
  };
  const finding = (
    type: FindingType,
    key: string,
    field: string | null,
    left: FindingSide | null,
    right: FindingSide | null,
  ) => ({
    id: findingIdOf(reconciliation.id, type, key, field),
    type,
    key,
    field,
    leftJson: left === null ? null : JSON.stringify(left),
    rightJson: right === null ? null : JSON.stringify(right),
  });

  const lefts = groupsOf(store, runId, "left");
  const rights = groupsOf(store, runId, "right");
  let left = await lefts.next();
  let right = await rights.next();
  while (!left.done || !right.done) {
    const order = left.done ? 1 : right.done ? -1 : compareKeys(left.value.key, right.value.key);
    if (order < 0 && !left.done) {
      counts.missingRight += 1;
      await add(finding("missing_right", left.value.key, null, sideOf(left.value.rows), null));
      left = await lefts.next();
      continue;
    }
    if (order > 0 && !right.done) {
      counts.missingLeft += 1;
      await add(finding("missing_left", right.value.key, null, null, sideOf(right.value.rows)));
      right = await rights.next();
      continue;
    }
    if (left.done || right.done) break;
    const leftRecords = left.value.rows.map(parse);
    const rightRecords = right.value.rows.map(parse);
    let differs = false;
    for (const [name, field] of fields) {
      const leftValues = leftRecords.map((record) => record.f[name] ?? null);
      const rightValues = rightRecords.map((record) => record.f[name] ?? null);
      const verdict = compareField(leftValues, rightValues, field);
      if (verdict.equal) continue;
      differs = true;
      counts.mismatchedByField[name] = (counts.mismatchedByField[name] ?? 0) + 1;
      await add(
        finding(
          "mismatch",
          left.value.key,
          name,
          { records: leftRecords.map(view), value: verdict.left },
          { records: rightRecords.map(view), value: verdict.right },
        ),
      );
    }
    if (differs) counts.mismatched += 1;
    else counts.matched += 1;
    left = await lefts.next();
    right = await rights.next();
  }
  if (pending.length > 0) await store.addReportFindings(runId, pending);
  return counts;
}

/** One side's spilled rows, grouped by key, in key order. */
async function* groupsOf(store: ReconcileStore, runId: string, side: ReconcileSide): AsyncGenerator<KeyGroup> {
  let after: { key: string; page: number; position: number } | null = null;
  let current: KeyGroup | undefined;
  for (;;) {
    const rows = await store.readSpilled({ runId, side, after, limit: readPage });
    for (const row of rows) {
      if (current?.key === row.key) {
        current.rows.push(row);
        continue;
      }
      if (current) yield current;
      current = { key: row.key, rows: [row] };
    }
    const last = rows.at(-1);
    if (!last || rows.length < readPage) break;
    after = { key: last.key, page: last.page, position: last.position };
  }
  if (current) yield current;
}

function parse(row: SpilledRow): SpilledFields {
  return JSON.parse(row.fieldsJson) as SpilledFields;
}

function view(record: SpilledFields): FindingSide["records"][number] {
  return { fields: record.f, shown: record.s };
}

function sideOf(rows: SpilledRow[]): FindingSide {
  return { records: rows.map(parse).map(view) };
}

interface Verdict {
  equal: boolean;
  left: NormalizedValue | NormalizedValue[];
  right: NormalizedValue | NormalizedValue[];
}

/** Whether one field agrees between the records sharing a key, and the values shown when it does not. */
export function compareField(
  left: NormalizedValue[],
  right: NormalizedValue[],
  field: Pick<CompareField<unknown, unknown>, "tolerance" | "combine">,
): Verdict {
  const tolerance = field.tolerance ?? 0;
  if (field.combine === "sum") {
    const leftSum = sum(left);
    const rightSum = sum(right);
    if (leftSum !== undefined && rightSum !== undefined) {
      return { equal: within(leftSum, rightSum, tolerance), left: leftSum, right: rightSum };
    }
  }
  const first = left[0] ?? null;
  const equal = [...left, ...right].every((value) => within(value, first, tolerance));
  return {
    equal,
    left: left.length === 1 ? (left[0] ?? null) : left,
    right: right.length === 1 ? (right[0] ?? null) : right,
  };
}

function within(a: NormalizedValue, b: NormalizedValue, tolerance: number): boolean {
  if (a === b) return true;
  return typeof a === "number" && typeof b === "number" && Math.abs(a - b) <= tolerance;
}

/** The sum of numbers (nulls count 0); undefined when a value is not a number. */
function sum(values: NormalizedValue[]): number | undefined {
  let total = 0;
  for (const value of values) {
    if (value === null) continue;
    if (typeof value !== "number") return undefined;
    total += value;
  }
  return total;
}
