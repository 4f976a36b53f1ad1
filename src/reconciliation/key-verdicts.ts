import type { CompareField, FindingSide, Reconciliation } from "../sdk/define-reconciliation.ts";
import type { NormalizedValue } from "../sdk/reconcile-normalizers.ts";
import type { FindingType, NewReportFinding, ReconcileStore, ReportCounts } from "../storage/reconcile-store.ts";
import { findingIdOf } from "./finding-id.ts";
import type { SpilledFields } from "./spill-records.ts";

export type MatchCounts = Omit<ReportCounts, "leftRecords" | "rightRecords">;

/** Findings written to the report per statement: what bounds their buffer. */
const findingsBatch = 500;

export function noMatches(reconciliation: Reconciliation): MatchCounts {
  return {
    matched: 0,
    missingLeft: 0,
    missingRight: 0,
    mismatched: 0,
    mismatchedByField: Object.fromEntries(Object.keys(reconciliation.compare ?? {}).map((name) => [name, 0])),
  };
}

/**
 * The verdict on each key, however the two sides were brought together (read back from storage, or merged as
 * sorted listers streamed): a key with no records on one side is missing there; a key with records on both has
 * each compared field checked. Counts add up in `counts`; findings go to the run's report in batches.
 */
export class KeyVerdicts {
  readonly counts: MatchCounts;
  readonly #reconciliation: Reconciliation;
  readonly #fields: [string, CompareField<unknown, unknown>][];
  readonly #store: ReconcileStore;
  readonly #runId: string;
  #pending: NewReportFinding[] = [];

  constructor(reconciliation: Reconciliation, store: ReconcileStore, runId: string, counts?: MatchCounts) {
    this.#reconciliation = reconciliation;
    this.#fields = Object.entries(reconciliation.compare ?? {}) as [string, CompareField<unknown, unknown>][];
    this.#store = store;
    this.#runId = runId;
    this.counts = counts
      ? { ...counts, mismatchedByField: { ...counts.mismatchedByField } }
      : noMatches(reconciliation);
  }

  /** Judges one key from the records each side has under it (null or none: the side lacks it). */
  async judge(key: string, left: SpilledFields[] | null, right: SpilledFields[] | null): Promise<void> {
    if (!left?.length && !right?.length) return;
    if (!right?.length) {
      this.counts.missingRight += 1;
      await this.#add("missing_right", key, null, sideOf(left ?? []), null);
      return;
    }
    if (!left?.length) {
      this.counts.missingLeft += 1;
      await this.#add("missing_left", key, null, null, sideOf(right));
      return;
    }
    let differs = false;
    for (const [name, field] of this.#fields) {
      const verdict = compareField(
        left.map((record) => record.f[name] ?? null),
        right.map((record) => record.f[name] ?? null),
        field,
      );
      if (verdict.equal) continue;
      differs = true;
      this.counts.mismatchedByField[name] = (this.counts.mismatchedByField[name] ?? 0) + 1;
      await this.#add(
        "mismatch",
        key,
        name,
        { records: left.map(view), value: verdict.left },
        { records: right.map(view), value: verdict.right },
      );
    }
    if (differs) this.counts.mismatched += 1;
    else this.counts.matched += 1;
  }

  /** Writes the findings still buffered. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    await this.#store.addReportFindings(this.#runId, this.#pending);
    this.#pending = [];
  }

  async #add(
    type: FindingType,
    key: string,
    field: string | null,
    left: FindingSide | null,
    right: FindingSide | null,
  ) {
    this.#pending.push({
      id: findingIdOf(this.#reconciliation.id, type, key, field),
      type,
      key,
      field,
      leftJson: left === null ? null : JSON.stringify(left),
      rightJson: right === null ? null : JSON.stringify(right),
    });
    if (this.#pending.length >= findingsBatch) await this.flush();
  }
}

function view(record: SpilledFields): FindingSide["records"][number] {
  return { fields: record.f, shown: record.s };
}

function sideOf(records: SpilledFields[]): FindingSide {
  return { records: records.map(view) };
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
