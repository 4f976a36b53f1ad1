import type { ReplayCandidate, ReplayCursor, ReplaySelection, Storage } from "../storage/contract.ts";
import { ReplayTally } from "./replay-tally.ts";

export interface RunSelectionReplay {
  /** Who asked, kept in each replayed run's history (`api:alice`, `cli:bob`). */
  actor?: string;
  /** At most this many runs replayed per second, so a downstream that just recovered is not flooded. */
  rps?: number;
  /** Aborted: stop after the page in flight (it commits whole or not at all). */
  signal?: AbortSignal;
  /** Resume after this cursor (a job that was interrupted), adding to this tally; default: from the start, at 0. */
  after?: ReplayCursor;
  tally?: ReplayTally;
  /** Called after each page, with where the next one starts; awaited before the next page is read. */
  onPage?: (tally: ReplayTally, cursor: ReplayCursor) => void | Promise<void>;
}

/** Runs replayed per transaction: a page read, then one transaction for it. */
const pageSize = 100;

/**
 * Requeues every run of a bulk replay's selection, a page at a time: `tenon replay --status dead …` and
 * `POST /api/runs/replay` (a bulk action, bulk-actions.ts) both work through this. The selection was fixed when the replay started (runs that
 * had finished by `finishedBy`), and each replay is the conditional transition `dead → queued` in storage: a
 * run another replay (or an earlier, interrupted one) already took is skipped, never replayed twice.
 */
export async function replayRunSelection(
  storage: Storage,
  selection: ReplaySelection,
  options: RunSelectionReplay = {},
): Promise<ReplayTally> {
  const tally = options.tally ?? new ReplayTally();
  const began = Date.now();
  const doneBefore = tally.done;
  const batchSize = Math.min(pageSize, options.rps ?? pageSize);
  let after = options.after;
  while (!options.signal?.aborted) {
    const page = await storage.listRunsToReplay(selection, after, batchSize);
    const last = page.at(-1);
    if (!last) break;
    after = last.cursor;
    await replayPage(storage, selection, page, tally, options.actor);
    await options.onPage?.(tally, last.cursor);
    if (options.rps !== undefined) {
      await pause(began + ((tally.done - doneBefore) / options.rps) * 1000 - Date.now(), options.signal);
    }
  }
  return tally;
}

async function replayPage(
  storage: Storage,
  selection: ReplaySelection,
  page: ReplayCandidate[],
  tally: ReplayTally,
  actor: string | undefined,
): Promise<void> {
  let replayed: string[];
  try {
    replayed = await storage.replayRunsIn(
      selection,
      page.map((run) => run.id),
      Date.now(),
      actor,
    );
  } catch (error) {
    // The page's transaction rolled back whole: none of it was replayed, and a later attempt may take it.
    tally.fail((error as Error).message, page.length);
    return;
  }
  tally.replayed += replayed.length;
  const skipped = page.length - replayed.length;
  if (skipped > 0) {
    tally.skip(`no longer ${selection.status} when their turn came (replayed already, by another replay)`, skipped);
  }
}

/** Waits `ms`, or less if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
