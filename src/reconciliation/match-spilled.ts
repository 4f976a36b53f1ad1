import type { Reconciliation } from "../sdk/define-reconciliation.ts";
import type { ReconcileSide, ReconcileStore, SpilledRow } from "../storage/reconcile-store.ts";
import { compareKeys } from "./finding-id.ts";
import { KeyVerdicts, type MatchCounts } from "./key-verdicts.ts";
import type { SpilledFields } from "./spill-records.ts";

/** Spilled rows read back per query, per side: what bounds the merge's memory (with the findings' buffer). */
const readPage = 1000;
/** Keys an incremental pass looks up among the kept records per query. */
const keptBatch = 500;

interface KeyGroup {
  key: string;
  rows: SpilledRow[];
}

interface KeyPair {
  key: string;
  left: SpilledRow[] | null;
  right: SpilledRow[] | null;
}

/**
 * Matches the two sides a run spilled: both are read back in key order, a page at a time, and merged like two
 * sorted files, so memory holds a page of each side whatever their size. Keys on one side only are missing on
 * the other; keys on both have each compared field checked. The findings go to the run's report.
 *
 * An incremental pass (`keptRunIds`: the runs whose records it judges against) listed only what changed: a key
 * it listed on one side only is looked up among the records earlier passes kept of the other side, and is
 * missing there only if none was kept either.
 */
export async function matchSpilled(
  store: ReconcileStore,
  runId: string,
  reconciliation: Reconciliation,
  keptRunIds: string[] | null,
): Promise<MatchCounts> {
  const verdicts = new KeyVerdicts(reconciliation, store, runId);
  const pairs = pairsOf(groupsOf(store, runId, "left"), groupsOf(store, runId, "right"));
  if (keptRunIds === null) {
    for await (const pair of pairs) await verdicts.judge(pair.key, parsed(pair.left), parsed(pair.right));
  } else {
    let batch: KeyPair[] = [];
    const judgeBatch = async () => {
      const kept = {
        left: await readKept(store, runId, keptRunIds, "left", batch),
        right: await readKept(store, runId, keptRunIds, "right", batch),
      };
      for (const pair of batch) {
        await verdicts.judge(
          pair.key,
          parsed(pair.left ?? kept.left.get(pair.key) ?? null),
          parsed(pair.right ?? kept.right.get(pair.key) ?? null),
        );
      }
      batch = [];
    };
    for await (const pair of pairs) {
      batch.push(pair);
      if (batch.length >= keptBatch) await judgeBatch();
    }
    if (batch.length > 0) await judgeBatch();
  }
  await verdicts.flush();
  return verdicts.counts;
}

/** The kept records of `side` under the keys of the batch this pass did not list on that side, by key. */
async function readKept(
  store: ReconcileStore,
  runId: string,
  keptRunIds: string[],
  side: ReconcileSide,
  batch: KeyPair[],
): Promise<Map<string, SpilledRow[]>> {
  const keys = batch.filter((pair) => pair[side] === null).map((pair) => pair.key);
  const byKey = new Map<string, SpilledRow[]>();
  for (const row of await store.readKept({ runId, keptRunIds, side, keys })) {
    const rows = byKey.get(row.key);
    if (rows) rows.push(row);
    else byKey.set(row.key, [row]);
  }
  return byKey;
}

/** Both sides' key groups merged in key order: each key once, with the rows each side has under it. */
async function* pairsOf(lefts: AsyncGenerator<KeyGroup>, rights: AsyncGenerator<KeyGroup>): AsyncGenerator<KeyPair> {
  let left = await lefts.next();
  let right = await rights.next();
  while (!left.done || !right.done) {
    const order = left.done ? 1 : right.done ? -1 : compareKeys(left.value.key, right.value.key);
    if (order < 0 && !left.done) {
      yield { key: left.value.key, left: left.value.rows, right: null };
      left = await lefts.next();
    } else if (order > 0 && !right.done) {
      yield { key: right.value.key, left: null, right: right.value.rows };
      right = await rights.next();
    } else if (!left.done && !right.done) {
      yield { key: left.value.key, left: left.value.rows, right: right.value.rows };
      left = await lefts.next();
      right = await rights.next();
    }
  }
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

function parsed(rows: SpilledRow[] | null): SpilledFields[] | null {
  return rows === null ? null : rows.map((row) => JSON.parse(row.fieldsJson) as SpilledFields);
}
