import { Redactor } from "../connections/audit/redact.ts";
import type { CompareField, MatchKey, ReconcileSideDefinition, Reconciliation } from "../sdk/define-reconciliation.ts";
import { NonRetryableError, toError } from "../sdk/errors.ts";
import type { NormalizedValue, Normalizer } from "../sdk/reconcile-normalizers.ts";
import type { ReconcileSide, SpilledRecord } from "../storage/reconcile-store.ts";

/** What a spilled record's JSON holds: `f` its compared values, `s` what `show` picked. */
export interface SpilledFields {
  f: Record<string, NormalizedValue>;
  s: Record<string, unknown>;
}

export interface SpilledPage {
  records: SpilledRecord[];
  /** Records without a key (undefined, null or ""), left out of the comparison. */
  unkeyed: number;
}

/** One listed record as the run compares it: its keys (none: left out), compared values, what `show` picked, id. */
export interface KeyedRecord {
  keys: string[];
  fields: SpilledFields;
  /** `id(record)` of the side, when it has one. */
  recordId: string | null;
}

/**
 * Keys one side's records and normalises their compared fields, the user's functions called once each: a
 * failure names the record (`left record 3 of page 2`) and fails the run, as no retry reads it differently.
 */
export function recordKeyer(
  reconciliation: Reconciliation,
  side: ReconcileSide,
): (record: unknown, index: number, page: number) => KeyedRecord | null {
  const where = `reconciliation "${reconciliation.id}"`;
  const keyOf = reconciliation.match[side] as (record: unknown) => MatchKey | readonly MatchKey[] | null | undefined;
  const definition = reconciliation[side] as ReconcileSideDefinition<unknown>;
  const common = normalizerList(reconciliation.normalize);
  // Each compared field's reader, normaliser chain and what a failure of it is called, worked out once.
  const fields = (Object.entries(reconciliation.compare ?? {}) as [string, CompareField<unknown, unknown>][]).map(
    ([name, field]) => ({
      name,
      read: field[side] as (record: unknown) => unknown,
      chain: [...common, ...normalizerList(field.normalize)],
      stage: `compare.${name}.${side}`,
    }),
  );
  const stages = { match: `match.${side}`, show: `${side}.show`, id: `${side}.id` };
  return (record, index, page) => {
    // The user's function being called, named in the error if it fails: no message is made for records that pass.
    let stage = stages.match;
    try {
      const keys = keysOf(keyOf(record));
      if (keys.length === 0) return null;
      const values: Record<string, NormalizedValue> = {};
      for (const field of fields) {
        stage = field.stage;
        values[field.name] = normalizeValue(field.read(record), field.chain);
      }
      stage = stages.show;
      const shown = definition.show ? redacted(definition.show(record)) : {};
      stage = stages.id;
      const recordId = definition.id ? idOf(definition.id(record)) : null;
      return { keys, fields: { f: values, s: shown }, recordId };
    } catch (thrown) {
      // A user function's failure fails the run (no retry reads the same record differently), saying where.
      const error = toError(thrown);
      throw new NonRetryableError(
        `${where}: ${stage} failed on the ${side} record ${index + 1} of page ${page + 1}: ${error.message}`,
        { cause: error },
      );
    }
  };
}

/** Turns one listed page into the rows to spill: one per key of each record, with its compared values. */
export function spillRecords(
  reconciliation: Reconciliation,
  side: ReconcileSide,
  records: unknown[],
  page: number,
): SpilledPage {
  const keyed = recordKeyer(reconciliation, side);
  const spilled: SpilledRecord[] = [];
  let unkeyed = 0;
  records.forEach((record, index) => {
    const found = keyed(record, index, page);
    if (!found) {
      unkeyed += 1;
      return;
    }
    const fieldsJson = JSON.stringify(found.fields);
    for (const key of found.keys) spilled.push({ key, fieldsJson, recordId: found.recordId });
  });
  return { records: spilled, unkeyed };
}

function idOf(id: string | number | undefined): string {
  if ((typeof id !== "string" && typeof id !== "number") || id === "") {
    throw new Error(`id must return the record's id (a string or number), got ${JSON.stringify(id)}`);
  }
  return String(id);
}

function keysOf(value: MatchKey | readonly MatchKey[] | null | undefined): string[] {
  const list = Array.isArray(value) ? (value as MatchKey[]) : [value as MatchKey | null | undefined];
  const keys = new Set<string>();
  for (const key of list) {
    if (key === null || key === undefined) continue;
    const text = String(key);
    if (text !== "") keys.add(text);
  }
  return [...keys];
}

function normalizerList(normalize: Normalizer | readonly Normalizer[] | undefined): Normalizer[] {
  if (normalize === undefined) return [];
  return Array.isArray(normalize) ? [...(normalize as Normalizer[])] : [normalize as Normalizer];
}

/** Through each normaliser in turn; what none normalised is kept as a JSON value (objects as their JSON). */
function normalizeValue(raw: unknown, chain: Normalizer[]): NormalizedValue {
  let value: unknown = raw;
  for (const normalize of chain) value = normalize(value);
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

/** What `show` picked, with fields named like secrets (token, password, api_key…) redacted, as the audit trail does. */
function redacted(shown: Record<string, unknown> | undefined): Record<string, unknown> {
  if (shown === undefined || shown === null) return {};
  if (typeof shown !== "object" || Array.isArray(shown)) {
    throw new Error(`show must return an object of fields, got ${Array.isArray(shown) ? "an array" : typeof shown}`);
  }
  // Walked, not serialised and parsed again: most shown fields hide nothing, and they are serialised once, stored.
  return showRedactor.value(shown) as Record<string, unknown>;
}

/** The built-in secret names only: a reconciliation has no credentials of its own to hide. */
const showRedactor = new Redactor();
