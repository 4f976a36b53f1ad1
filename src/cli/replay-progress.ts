import cliProgress from "cli-progress";
import type { ReplayTally } from "../replay/replay-tally.ts";

/**
 * Progress on stderr, so that stdout carries only the summary: a bar on a terminal, otherwise one plain line
 * per page (a log or a CI job reads those).
 */
export class ReplayProgress {
  readonly #noun: string;
  readonly #total: number;
  readonly #bar: cliProgress.SingleBar | undefined;

  constructor(noun: string, total: number) {
    this.#noun = noun;
    this.#total = total;
    if (process.stderr.isTTY) {
      this.#bar = new cliProgress.SingleBar(
        {
          format: `replaying {bar} {value}/{total} ${noun} | replayed {replayed}, skipped {skipped}, failed {failed} | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(total, 0, { replayed: 0, skipped: 0, failed: 0 });
    }
  }

  update(tally: ReplayTally): void {
    const counts = { replayed: tally.replayed, skipped: tally.skipped, failed: tally.failed };
    if (this.#bar) {
      this.#bar.update(tally.done, counts);
      return;
    }
    process.stderr.write(
      `replaying: ${tally.done}/${this.#total} ${this.#noun} (replayed ${counts.replayed}, skipped ${counts.skipped}, failed ${counts.failed})\n`,
    );
  }

  stop(): void {
    this.#bar?.stop();
  }
}

/** Ends a bulk replay: the summary on stdout, and exit code 130 if interrupted, 1 if any replay failed. */
export function reportReplayEnd(noun: string, tally: ReplayTally, total: number, interrupted: boolean): void {
  const remaining = interrupted ? { remaining: Math.max(total - tally.done, 0) } : null;
  console.log(formatReplaySummary(noun, tally, remaining));
  if (interrupted) process.exitCode = 130;
  else if (tally.failed > 0) process.exitCode = 1;
}

/** The summary a bulk replay ends with. */
function formatReplaySummary(noun: string, tally: ReplayTally, interrupted: { remaining: number } | null): string {
  const lines = [`${noun}: ${tally.summary()}`, ...[...tally.reasons].map(([reason, count]) => `  ${count} ${reason}`)];
  if (interrupted) {
    lines.push(
      `interrupted with ${interrupted.remaining} not yet looked at; the same command replays them, and none of those already replayed twice`,
    );
  }
  return lines.join("\n");
}
