import type { Engine } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { replayEventSelection } from "../replay/replay-event-selection.ts";
import type { ReplayTally } from "../replay/replay-tally.ts";
import type { EventRecord, EventSelection } from "../storage/contract.ts";
import { formatTable } from "./format-table.ts";
import { abortOnInterrupt } from "./interrupt-signal.ts";
import { formatLocalTimeWithAge } from "./local-time.ts";
import { ReplayProgress, reportReplayEnd } from "./replay-progress.ts";

export interface BulkEventReplay {
  selection: Omit<EventSelection, "status" | "receivedBefore"> & { receivedBefore?: number };
  dryRun: boolean;
}

const sampleSize = 10;

/**
 * `tenon replay-event --status quarantined …`: judges every quarantined event of the selection again under the
 * current config, oldest first, a page at a time. Events received after the command started are left alone;
 * each event moves out of quarantine in one conditional transaction, so a second replay (or a re-run after an
 * interruption) never starts its runs twice. Those that stay quarantined get their new reason and are not
 * read again by this run of the command.
 */
export async function replayEventsInBulk(
  engine: Engine,
  sources: ReadonlyMap<string, WebhookSource>,
  replay: BulkEventReplay,
): Promise<ReplayTally | null> {
  const storage = engine.storage;
  const startedAt = Date.now();
  const before = Math.min(replay.selection.receivedBefore ?? startedAt, startedAt);
  const selection: EventSelection = { ...replay.selection, status: "quarantined", receivedBefore: before };
  const total = await storage.countEventsToReplay(selection);
  if (replay.dryRun) {
    const sample = await storage.listEventsToReplay(selection, null, sampleSize);
    console.log(formatDryRun(total, sample, startedAt));
    return null;
  }
  const progress = new ReplayProgress("events", total);
  const interrupt = abortOnInterrupt();
  let tally: ReplayTally;
  try {
    tally = await replayEventSelection(engine, sources, selection, {
      signal: interrupt.signal,
      onPage: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
    interrupt.dispose();
  }
  reportReplayEnd("events", tally, total, interrupt.signal.aborted);
  return tally;
}

function formatDryRun(total: number, sample: EventRecord[], now: number): string {
  const lines = [`dry run: ${total} quarantined event(s) would be judged again; nothing was changed.`];
  if (sample.length === 0) return lines.join("\n");
  lines.push(total > sample.length ? `the first ${sample.length}:` : "they are:");
  const rows = sample.map((e) => [e.id, e.source, e.type, formatLocalTimeWithAge(e.receivedAt, now)]);
  lines.push(formatTable(["ID", "SOURCE", "TYPE", "RECEIVED"], rows));
  for (const [index, event] of sample.entries()) {
    if (event.error !== null) lines.push(`  ${index + 1}. ${event.id}: ${event.error}`);
  }
  return lines.join("\n");
}
