import type { ReplayCandidate, ReplaySelection, Storage } from "../storage/contract.ts";
import { formatTable } from "./format-table.ts";
import { abortOnInterrupt, pause } from "./interrupt-signal.ts";
import { formatLocalTimeWithAge } from "./local-time.ts";
import { ReplayProgress, ReplayTally, reportReplayEnd } from "./replay-progress.ts";

export interface BulkRunReplay {
  selection: Omit<ReplaySelection, "finishedBy">;
  dryRun: boolean;
  /** At most this many runs replayed per second, so a downstream that just recovered is not flooded. */
  rps?: number;
}

/** Runs replayed per transaction: a page read, then one transaction for it. */
const pageSize = 100;
const sampleSize = 10;

/**
 * `tenon replay --status dead …`: requeues every run of the selection, a page at a time. The selection is fixed
 * when the command starts (runs that had finished by then), and each replay is the conditional transition
 * `dead → queued` in storage: a run another replay (or an earlier, interrupted run of this command) already
 * took is skipped, never replayed twice. Interrupted, it stops after the page in flight; run it again for the rest.
 */
export async function replayRunsInBulk(storage: Storage, replay: BulkRunReplay): Promise<void> {
  const selection: ReplaySelection = { ...replay.selection, finishedBy: Date.now() };
  const total = await storage.countRunsToReplay(selection);
  if (replay.dryRun) {
    const sample = await storage.listRunsToReplay(selection, 0, sampleSize);
    console.log(formatDryRun(selection.status, total, sample, Date.now()));
    return;
  }
  const tally = new ReplayTally();
  const progress = new ReplayProgress("runs", total);
  const interrupt = abortOnInterrupt();
  const began = Date.now();
  const batchSize = Math.min(pageSize, replay.rps ?? pageSize);
  let afterSeq = 0;
  try {
    while (!interrupt.signal.aborted) {
      const page = await storage.listRunsToReplay(selection, afterSeq, batchSize);
      const last = page.at(-1);
      if (!last) break;
      afterSeq = last.seq;
      await replayPage(storage, selection, page, tally);
      progress.update(tally);
      if (replay.rps !== undefined)
        await pause(began + (tally.done / replay.rps) * 1000 - Date.now(), interrupt.signal);
    }
  } finally {
    progress.stop();
    interrupt.dispose();
  }
  reportReplayEnd("runs", tally, total, interrupt.signal.aborted);
}

async function replayPage(
  storage: Storage,
  selection: ReplaySelection,
  page: ReplayCandidate[],
  tally: ReplayTally,
): Promise<void> {
  let replayed: string[];
  try {
    replayed = await storage.replayRunsIn(
      selection,
      page.map((run) => run.id),
      Date.now(),
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

function formatDryRun(status: string, total: number, sample: ReplayCandidate[], now: number): string {
  const lines = [`dry run: ${total} ${status} run(s) would be replayed; nothing was changed.`];
  if (sample.length === 0) return lines.join("\n");
  lines.push(total > sample.length ? `the first ${sample.length}:` : "they are:");
  const rows = sample.map((run) => [
    run.id,
    run.integrationId,
    formatLocalTimeWithAge(run.createdAt, now),
    (run.lastError ?? "").split("\n", 1)[0] ?? "",
  ]);
  lines.push(formatTable(["ID", "INTEGRATION", "CREATED", "LAST ERROR (first line)"], rows));
  return lines.join("\n");
}
