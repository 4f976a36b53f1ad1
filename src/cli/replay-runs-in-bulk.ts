import { replayRunSelection } from "../replay/replay-run-selection.ts";
import type { ReplayTally } from "../replay/replay-tally.ts";
import type { ReplayCandidate, ReplaySelection, Storage } from "../storage/contract.ts";
import { formatTable } from "./format-table.ts";
import { abortOnInterrupt } from "./interrupt-signal.ts";
import { formatLocalTimeWithAge } from "./local-time.ts";
import { ReplayProgress, reportReplayEnd } from "./replay-progress.ts";

export interface BulkRunReplay {
  selection: Omit<ReplaySelection, "finishedBy">;
  dryRun: boolean;
  /** At most this many runs replayed per second, so a downstream that just recovered is not flooded. */
  rps?: number | undefined;
  /** Who asked (`cli:<OS user>`), kept in each replayed run's history. */
  actor?: string;
}

const sampleSize = 10;

/**
 * `tenon replay --status dead …`: requeues every run of the selection, a page at a time. The selection is fixed
 * when the command starts (runs that had finished by then), and each replay is the conditional transition
 * `dead → queued` in storage: a run another replay (or an earlier, interrupted run of this command) already
 * took is skipped, never replayed twice. Interrupted, it stops after the page in flight; run it again for the rest.
 */
export async function replayRunsInBulk(storage: Storage, replay: BulkRunReplay): Promise<ReplayTally | null> {
  const selection: ReplaySelection = { ...replay.selection, finishedBy: Date.now() };
  const total = await storage.countRunsToReplay(selection);
  if (replay.dryRun) {
    const sample = await storage.listRunsToReplay(selection, undefined, sampleSize);
    console.log(formatDryRun(selection.status, total, sample, Date.now()));
    return null;
  }
  const progress = new ReplayProgress("runs", total);
  const interrupt = abortOnInterrupt();
  let tally: ReplayTally;
  try {
    tally = await replayRunSelection(storage, selection, {
      ...(replay.actor === undefined ? {} : { actor: replay.actor }),
      ...(replay.rps === undefined ? {} : { rps: replay.rps }),
      signal: interrupt.signal,
      onPage: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
    interrupt.dispose();
  }
  reportReplayEnd("runs", tally, total, interrupt.signal.aborted);
  return tally;
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
