import type { ConnectionClient } from "./connection-client.ts";
import type { StepContext } from "./define-integration.ts";
import { type Duration, durationToMs } from "./duration.ts";
import { ConfigurationError } from "./errors.ts";
import type { NormalizedValue, Normalizer } from "./reconcile-normalizers.ts";

/** One page of a side's records, and where the next page starts (null: this was the last). */
export interface ReconcileListPage<R> {
  records: R[];
  nextCursor: string | null;
}

export interface ReconcileListContext {
  /** Where the previous page ended; null for the first page. */
  cursor: string | null;
  /**
   * In an incremental pass, the start of the reconciliation's last completed run: list only the records created
   * or changed at or after it (`updated_at_min`, `Metadata.LastUpdatedTime >=`), going back further by however
   * much the lister leaves out (records too young to judge) or the systems' clocks may differ. Null in a full
   * pass: list everything.
   */
  since: Date | null;
  /** The client of a configured connection (auth, rate limit, circuit breaker, audit), as runs get it. */
  connection(name: string): ConnectionClient;
  /**
   * When the run began (epoch ms): the same for every page of both sides, and after a resume. A side that leaves
   * out records too young to judge measures their age from here, so the other side can leave out the same ones.
   */
  asOf: number;
}

export interface ReconcileSideDefinition<R> {
  /**
   * Lists the side's records a page at a time. Each page is a journaled step: a reconciliation interrupted
   * half-way resumes at the page after the last one stored, so pages must come back the same for the same cursor.
   */
  list(context: ReconcileListContext): Promise<ReconcileListPage<R>>;
  /**
   * What a report shows of a record besides its compared fields, and what a repair receives: its id, number,
   * name. Keep it small (a few fields): it is stored for every record while the run lasts. Fields named like
   * secrets (token, password, …) are redacted.
   */
  show?: (record: R) => Record<string, unknown>;
  /**
   * The record's own identity in its system (its id). Needed for incremental mode, which keeps the records it
   * has seen: a record listed again replaces what was kept of it, whatever its key was.
   */
  id?: (record: R) => string | number;
  /**
   * The lister returns records in ascending key order across its pages (byte order of the keys' UTF-8 text,
   * as `"1000" < "999"`), one key per record. When both sides are sorted (and the reconciliation is not
   * incremental), the run merges them as they stream instead of storing them first. Checked as it streams: a
   * key out of order (or a record with several keys) makes the run list both sides again into storage, noted
   * in its report.
   */
  sorted?: boolean;
}

/** A record's key: a string or number; a list for a record that answers to several keys. */
export type MatchKey = string | number;

export interface CompareField<L, R> {
  left: (record: L) => unknown;
  right: (record: R) => unknown;
  /** Applied after the reconciliation's own `normalize`, in order. */
  normalize?: Normalizer | readonly Normalizer[];
  /** Numbers within this of each other are equal (in normalised units: cents for money, ms for instants). */
  tolerance?: number;
  /**
   * When several records on a side share a key (an invoice and its credit notes): "sum" adds their values and
   * compares the sums; "each" (default) needs every record on each side to carry the same value.
   */
  combine?: "each" | "sum";
}

/** A record as a report and a repair see it: its compared values, and what `show` picked. */
export interface FindingRecord {
  fields: Record<string, NormalizedValue>;
  shown: Record<string, unknown>;
}

export interface FindingSide {
  records: FindingRecord[];
  /** A mismatch's value on this side (combined when several records share the key). */
  value?: NormalizedValue | NormalizedValue[];
}

export type ReconcileFindingType = "missing_left" | "missing_right" | "mismatch";

/** A finding, as a repair receives it. */
export interface ReconcileFinding {
  /** Stable across runs: the same record missing again and again is one finding. */
  id: string;
  reconciliationId: string;
  type: ReconcileFindingType;
  key: string;
  /** The differing field of a mismatch; null otherwise. */
  field: string | null;
  left: FindingSide | null;
  right: FindingSide | null;
  /** 1, then 2 if the finding was fixed and came back, …: a repair is made once per occurrence. */
  occurrence: number;
}

/** The event a repair emits: an integration listening to it makes the repair with its usual idempotency. */
export interface RepairEvent {
  type: string;
  /** Default "tenon-reconcile". */
  source?: string;
  payload: unknown;
}

export interface RepairContext {
  connection(name: string): ConnectionClient;
}

export type RepairAction =
  /** Emits an event, once per finding occurrence (its id is derived from the finding's). */
  | { emit: (finding: ReconcileFinding, context: RepairContext) => RepairEvent | Promise<RepairEvent> }
  /** Calls `run` as a journaled step of a repair run of its own (retried like any step). */
  | { run: (finding: ReconcileFinding, context: RepairContext & StepContext) => unknown };

export interface RepairPolicy {
  /**
   * "report" (default): findings are reported, nothing is repaired; "auto": each run repairs its new findings
   * at once; "approve": an operator repairs the ones chosen (`POST /api/reconciliations/:id/findings/repair`).
   */
  mode?: "report" | "auto" | "approve";
  missing_left?: RepairAction;
  missing_right?: RepairAction;
  mismatch?: RepairAction;
}

export interface ReconciliationDefinition<L, R> {
  id: string;
  /** A cron expression (or `{ cron, timezone }`): runs on that schedule, once per tick across all workers. */
  schedule?: string | { cron: string; timezone?: string };
  left: ReconcileSideDefinition<L>;
  right: ReconcileSideDefinition<R>;
  /** How records pair up: a key (or keys) of each side's records; undefined, null or "" leaves a record out. */
  match: {
    left: (record: L) => MatchKey | readonly MatchKey[] | null | undefined;
    right: (record: R) => MatchKey | readonly MatchKey[] | null | undefined;
  };
  /** The fields that must agree on records that match, by name. None: matching keys is enough. */
  compare?: Record<string, CompareField<L, R>>;
  /** Normalisers applied to every compared field first (e.g. `normalizers.whitespace()`). */
  normalize?: Normalizer | readonly Normalizer[];
  repair?: RepairPolicy;
  /**
   * Incremental passes: a run lists only what changed since the last completed run (listers receive `since`)
   * and judges it against the records earlier passes kept; a full pass runs when the last one is older than
   * `fullEvery` (and on demand), the only kind that sees records deleted without a trace. Needs `left.id` and
   * `right.id`. See docs/reconciliation.md.
   */
  incremental?: { fullEvery: Duration };
}

export interface Reconciliation<L = unknown, R = unknown> extends Readonly<ReconciliationDefinition<L, R>> {
  readonly mode: "report" | "auto" | "approve";
}

const idPattern = /^[a-z0-9][a-z0-9._-]{0,79}$/;
const repairKeys = ["mode", "missing_left", "missing_right", "mismatch"];
const definitionKeys = ["id", "schedule", "left", "right", "match", "compare", "normalize", "repair", "incremental"];

/**
 * Declares a reconciliation: two systems' records compared by key, on a schedule or on demand, with what is
 * missing or different reported, and optionally repaired. Checked here so a mistake fails when the config loads.
 */
export function defineReconciliation<L, R>(definition: ReconciliationDefinition<L, R>): Reconciliation<L, R> {
  if (!idPattern.test(definition.id ?? "")) {
    throw new ConfigurationError(
      `reconciliation id "${definition.id}" must be 1-80 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  const where = `reconciliation "${definition.id}"`;
  const unknown = Object.keys(definition).find((key) => !definitionKeys.includes(key));
  if (unknown)
    throw new ConfigurationError(`${where}: unknown key "${unknown}"; allowed keys: ${definitionKeys.join(", ")}`);
  for (const side of ["left", "right"] as const) {
    if (typeof definition[side]?.list !== "function") {
      throw new ConfigurationError(
        `${where}: ${side}.list must be a function ({ cursor, connection }) => ({ records, nextCursor })`,
      );
    }
    for (const name of ["show", "id"] as const) {
      const fn = definition[side][name];
      if (fn !== undefined && typeof fn !== "function") {
        throw new ConfigurationError(`${where}: ${side}.${name} must be a function of a record`);
      }
    }
    const sorted = definition[side].sorted;
    if (sorted !== undefined && typeof sorted !== "boolean") {
      throw new ConfigurationError(`${where}: ${side}.sorted must be true or false`);
    }
    if (typeof definition.match?.[side] !== "function") {
      throw new ConfigurationError(`${where}: match.${side} must be a function of a ${side} record returning its key`);
    }
  }
  assertSchedule(definition.schedule, where);
  for (const [name, field] of Object.entries(definition.compare ?? {})) assertCompareField(name, field, where);
  assertNormalizers(definition.normalize, `${where}: normalize`);
  const mode = assertRepair(definition.repair, where);
  assertIncremental(definition, where);
  return Object.freeze({ ...definition, mode });
}

/** How often an incremental reconciliation makes a full pass, in ms; null when every run is a full pass. */
export function fullPassEveryMs(reconciliation: Reconciliation): number | null {
  return reconciliation.incremental === undefined ? null : durationToMs(reconciliation.incremental.fullEvery);
}

function assertIncremental<L, R>(definition: ReconciliationDefinition<L, R>, where: string): void {
  const incremental = definition.incremental;
  if (incremental === undefined) return;
  const usage = `${where}: incremental must be { fullEvery: "24h" } (how often a full pass runs)`;
  if (typeof incremental !== "object" || incremental === null || incremental.fullEvery === undefined) {
    throw new ConfigurationError(usage);
  }
  let fullEveryMs: number;
  try {
    fullEveryMs = durationToMs(incremental.fullEvery);
  } catch (error) {
    throw new ConfigurationError(`${usage}: ${(error as Error).message}`);
  }
  if (fullEveryMs <= 0) throw new ConfigurationError(`${usage}: fullEvery must be longer than 0`);
  const missing = (["left", "right"] as const).filter((side) => definition[side].id === undefined);
  if (missing.length > 0) {
    throw new ConfigurationError(
      `${where}: incremental mode keeps the records it has seen by their id: set ${missing.map((side) => `${side}.id`).join(" and ")} (record) => its id in its system`,
    );
  }
}

function assertSchedule(schedule: ReconciliationDefinition<unknown, unknown>["schedule"], where: string): void {
  if (schedule === undefined || typeof schedule === "string") return;
  if (typeof schedule !== "object" || schedule === null || typeof schedule.cron !== "string") {
    throw new ConfigurationError(`${where}: schedule must be a cron expression ("0 * * * *") or { cron, timezone? }`);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: checks a field of any record types
function assertCompareField(name: string, field: CompareField<any, any>, where: string): void {
  if (typeof field?.left !== "function" || typeof field.right !== "function") {
    throw new ConfigurationError(
      `${where}: compare.${name} needs left and right functions reading the field from each side's record`,
    );
  }
  assertNormalizers(field.normalize, `${where}: compare.${name}.normalize`);
  if (field.tolerance !== undefined && !(Number.isFinite(field.tolerance) && field.tolerance >= 0)) {
    throw new ConfigurationError(
      `${where}: compare.${name}.tolerance must be a number ≥ 0, got ${String(field.tolerance)}`,
    );
  }
  if (field.combine !== undefined && field.combine !== "each" && field.combine !== "sum") {
    throw new ConfigurationError(`${where}: compare.${name}.combine must be "each" or "sum"`);
  }
}

function assertNormalizers(normalize: unknown, where: string): void {
  if (normalize === undefined) return;
  const list = Array.isArray(normalize) ? normalize : [normalize];
  if (!list.every((n) => typeof n === "function")) {
    throw new ConfigurationError(
      `${where} must be a normaliser or a list of them, e.g. normalizers.money({ currency: "USD" })`,
    );
  }
}

function assertRepair(repair: RepairPolicy | undefined, where: string): Reconciliation["mode"] {
  if (repair === undefined) return "report";
  if (typeof repair !== "object" || repair === null) {
    throw new ConfigurationError(
      `${where}: repair must be an object { mode?, missing_left?, missing_right?, mismatch? }`,
    );
  }
  const unknown = Object.keys(repair).find((key) => !repairKeys.includes(key));
  if (unknown)
    throw new ConfigurationError(
      `${where}: repair has an unknown key "${unknown}"; allowed keys: ${repairKeys.join(", ")}`,
    );
  const mode = repair.mode ?? "report";
  if (!["report", "auto", "approve"].includes(mode)) {
    throw new ConfigurationError(`${where}: repair.mode must be "report", "auto" or "approve", got "${String(mode)}"`);
  }
  for (const type of ["missing_left", "missing_right", "mismatch"] as const) {
    const action = repair[type] as Record<string, unknown> | undefined;
    if (action === undefined) continue;
    const emits = typeof action?.emit === "function";
    const runs = typeof action?.run === "function";
    if (emits === runs) {
      throw new ConfigurationError(
        `${where}: repair.${type} must be { emit: (finding) => ({ type, payload }) } or { run: (finding, context) => … }`,
      );
    }
  }
  return mode;
}
