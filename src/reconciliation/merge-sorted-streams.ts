import type { ConnectionClient } from "../sdk/connection-client.ts";
import type { StepTools } from "../sdk/define-integration.ts";
import type { Reconciliation } from "../sdk/define-reconciliation.ts";
import type { ReconcileSide, ReconcileStore } from "../storage/reconcile-store.ts";
import { compareKeys } from "./finding-id.ts";
import { KeyVerdicts, type MatchCounts, noMatches } from "./key-verdicts.ts";
import { listPage } from "./list-page.ts";
import { recordKeyer, type SpilledFields } from "./spill-records.ts";

const sides = ["left", "right"] as const;

/** A page of a side listed but not yet merged to its end: its number and the cursor it was listed with. */
interface PageRef {
  number: number;
  cursor: string | null;
}

/** How far one side's stream has come, as each merge step journals it. */
interface SideProgress {
  /** The pages holding records listed but not merged yet, oldest first: listed again to carry on after a crash. */
  pages: PageRef[];
  /** Records of the first of those pages merged already, in listed order. */
  skip: number;
  /** The cursor of the next page to list (null: the first page, until one was listed). */
  next: string | null;
  done: boolean;
  listedPages: number;
  records: number;
  /** The last key listed: the next one must not come before it, and no key below it will come any more. */
  lastKey: string | null;
}

interface StreamProgress {
  left: SideProgress;
  right: SideProgress;
  unkeyed: number;
  counts: MatchCounts;
}

/** A record listed, waiting to be merged. */
interface Waiting {
  key: string;
  fields: SpilledFields;
  page: number;
  index: number;
}

/** What the steps of this execution listed and have not merged yet; `step`: how many steps it reflects. */
interface Buffers {
  step: number;
  left: Waiting[];
  right: Waiting[];
}

export type StreamedMatch =
  | { counts: MatchCounts; listed: { left: number; right: number; unkeyed: number } }
  /** A sorted lister was not: why (the run matches through storage instead). */
  | { fallback: string };

/**
 * Matches two sides whose listers both return records in key order, without storing them: each step lists the
 * next page of the side that is behind and judges every key no later page can add to (below the last key each
 * unfinished side listed), so memory holds about a page of each side. Each step is journaled with where each
 * side stands; after a crash, the pages still holding unmerged records are listed again (pages come back the same
 * for the same cursor). A key out of order, or a record with several keys, ends the stream with the reason.
 */
export async function mergeSortedStreams(
  reconciliation: Reconciliation,
  context: { step: StepTools; run: { id: string }; connection: (name: string) => ConnectionClient },
  store: ReconcileStore,
  /** When the run began: every page of both sides is listed as of then (ReconcileListContext.asOf). */
  asOf: number,
): Promise<StreamedMatch> {
  const keyers = { left: recordKeyer(reconciliation, "left"), right: recordKeyer(reconciliation, "right") };
  let buffers: Buffers = { step: 0, left: [], right: [] };
  const start = (): SideProgress => ({
    pages: [],
    skip: 0,
    next: null,
    done: false,
    listedPages: 0,
    records: 0,
    lastKey: null,
  });
  let progress: StreamProgress = { left: start(), right: start(), unkeyed: 0, counts: noMatches(reconciliation) };

  /** The buffers as `from` left them: listed again unless this execution's last step made them. */
  async function buffersAt(from: StreamProgress, step: number): Promise<Buffers> {
    if (buffers.step === step) return buffers;
    const rebuilt: Buffers = { step, left: [], right: [] };
    for (const side of sides) {
      for (const [position, page] of from[side].pages.entries()) {
        const answer = await listPage(
          reconciliation,
          side,
          { cursor: page.cursor, since: null, asOf, connection: context.connection },
          page.number,
        );
        answer.records.forEach((record, index) => {
          if (position === 0 && index < from[side].skip) return;
          const keyed = keyers[side](record, index, page.number);
          const key = keyed?.keys[0];
          if (keyed && key !== undefined) rebuilt[side].push({ key, fields: keyed.fields, page: page.number, index });
        });
      }
    }
    return rebuilt;
  }

  async function advance(from: StreamProgress, step: number): Promise<StreamProgress | { fallback: string }> {
    const waiting = await buffersAt(from, step);
    const next = structuredClone(from);
    const side = sideToList(next);
    if (side) {
      const at = next[side];
      const answer = await listPage(
        reconciliation,
        side,
        { cursor: at.next, since: null, asOf, connection: context.connection },
        at.listedPages,
      );
      for (const [index, record] of answer.records.entries()) {
        const keyed = keyers[side](record, index, at.listedPages);
        if (!keyed) {
          next.unkeyed += 1;
          continue;
        }
        const where = `${side} record ${index + 1} of page ${at.listedPages + 1}`;
        const [key] = keyed.keys;
        if (keyed.keys.length > 1 || key === undefined) {
          return { fallback: `${side}.list is declared sorted, but the ${where} has ${keyed.keys.length} keys` };
        }
        if (at.lastKey !== null && compareKeys(key, at.lastKey) < 0) {
          return {
            fallback: `${side}.list is declared sorted, but the ${where} has the key "${key}" after "${at.lastKey}" (keys must ascend in byte order of their UTF-8 text)`,
          };
        }
        waiting[side].push({ key, fields: keyed.fields, page: at.listedPages, index });
        at.lastKey = key;
      }
      at.pages.push({ number: at.listedPages, cursor: at.next });
      at.records += answer.records.length;
      at.listedPages += 1;
      at.next = answer.nextCursor;
      at.done = answer.nextCursor === null;
    }
    const verdicts = new KeyVerdicts(reconciliation, store, context.run.id, next.counts);
    await judgeDecided(verdicts, waiting, decidedBelow(next));
    await verdicts.flush();
    next.counts = verdicts.counts;
    for (const s of sides) {
      const first = waiting[s][0];
      next[s].pages = first ? next[s].pages.filter((page) => page.number >= first.page) : [];
      next[s].skip = first?.index ?? 0;
    }
    buffers = { ...waiting, step: step + 1 };
    return next;
  }

  for (let step = 0; ; step += 1) {
    const from = progress;
    const result = (await context.step.run("merge", () => advance(from, step))) as
      | StreamProgress
      | { fallback: string };
    if ("fallback" in result) return result;
    progress = result;
    const finished = sides.every((side) => progress[side].done && progress[side].pages.length === 0);
    if (finished) {
      return {
        counts: progress.counts,
        listed: { left: progress.left.records, right: progress.right.records, unkeyed: progress.unkeyed },
      };
    }
  }
}

/** The unfinished side that is behind (one that has listed nothing first); null when both are finished. */
function sideToList(progress: StreamProgress): ReconcileSide | null {
  const open = sides.filter((side) => !progress[side].done);
  const [first, second] = open;
  if (first === undefined) return null;
  if (second === undefined) return first;
  const [a, b] = [progress[first].lastKey, progress[second].lastKey];
  if (a === null) return first;
  if (b === null) return second;
  return compareKeys(b, a) < 0 ? second : first;
}

/**
 * Keys below this are decided: no unfinished side can list them any more (its keys ascend from its last one).
 * null: every key is (both sides finished); undefined: none is (a side has listed nothing yet).
 */
function decidedBelow(progress: StreamProgress): string | null | undefined {
  let limit: string | null = null;
  for (const side of sides) {
    const at = progress[side];
    if (at.done) continue;
    if (at.lastKey === null) return undefined;
    if (limit === null || compareKeys(at.lastKey, limit) < 0) limit = at.lastKey;
  }
  return limit;
}

/** Judges the waiting keys below `limit` (all for null), in key order, and drops them from the buffers. */
async function judgeDecided(verdicts: KeyVerdicts, waiting: Buffers, limit: string | null | undefined): Promise<void> {
  if (limit === undefined) return;
  let left = 0;
  let right = 0;
  for (;;) {
    const heads = [waiting.left[left]?.key, waiting.right[right]?.key].filter(
      (key): key is string => key !== undefined,
    );
    if (heads.length === 0) break;
    const key = heads.reduce((a, b) => (compareKeys(a, b) <= 0 ? a : b));
    if (limit !== null && compareKeys(key, limit) >= 0) break;
    const leftGroup: SpilledFields[] = [];
    const rightGroup: SpilledFields[] = [];
    while (waiting.left[left]?.key === key) leftGroup.push((waiting.left[left++] as Waiting).fields);
    while (waiting.right[right]?.key === key) rightGroup.push((waiting.right[right++] as Waiting).fields);
    await verdicts.judge(key, leftGroup, rightGroup);
  }
  waiting.left.splice(0, left);
  waiting.right.splice(0, right);
}
