import { type RunStatus, terminalStatuses } from "../../storage/contract.ts";
import { runStatuses } from "../run-statuses.ts";
import type { TrafficCounts } from "./store-traffic.ts";

export interface SummarySnapshot {
  elapsedMs: number;
  traffic: Readonly<TrafficCounts>;
  runs: Partial<Record<RunStatus, number>>;
}

export interface LiveSummary {
  /** Stops the periodic redraw and shows `note` under the last snapshot (e.g. "stopping…"). */
  freeze(note: string): void;
  /** Shows the final snapshot: in place of the live one on a terminal, as one more line elsewhere. */
  showFinal(snapshot: SummarySnapshot): void;
}

const ttyRedrawMs = 1000;
const plainLineMs = 2000;
const activeStatuses = runStatuses.filter((status) => !terminalStatuses.includes(status));

/**
 * On a terminal, redraws a few lines in place every second; anywhere else
 * (a pipe, a CI log), appends one line every two seconds, since cursor
 * movement would be noise there.
 */
export function startLiveSummary(out: NodeJS.WriteStream, read: () => Promise<SummarySnapshot>): LiveSummary {
  const tty = out.isTTY === true;
  let drawnLines = 0;
  let drawing = false;
  let last: SummarySnapshot | undefined;

  const draw = (snapshot: SummarySnapshot, note?: string) => {
    last = snapshot;
    if (!tty) {
      out.write(`${note ?? summaryLine(snapshot)}\n`);
      return;
    }
    const lines = note === undefined ? summaryBlock(snapshot) : [...summaryBlock(snapshot), `  ${note}`];
    // Back to the first line drawn last time, clear to the end of the screen, draw again.
    const rewind = drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : "";
    out.write(`${rewind}${lines.join("\n")}\n`);
    drawnLines = lines.length;
  };

  const timer = setInterval(
    () => {
      if (drawing) return;
      drawing = true;
      read()
        .then((snapshot) => draw(snapshot))
        .catch((error: unknown) => out.write(`summary unavailable: ${(error as Error).message}\n`))
        .finally(() => {
          drawing = false;
        });
    },
    tty ? ttyRedrawMs : plainLineMs,
  );

  return {
    freeze(note) {
      clearInterval(timer);
      if (last) draw(last, note);
      else out.write(`  ${note}\n`);
    },
    showFinal(snapshot) {
      draw(snapshot);
    },
  };
}

function summaryBlock({ elapsedMs, traffic, runs }: SummarySnapshot): string[] {
  const lines = [
    `  running for ${Math.round(elapsedMs / 1000)} s`,
    `  events  received ${traffic.received} · duplicates ignored ${traffic.duplicatesIgnored} · unmatched ${traffic.unmatched}`,
    `  runs    ${statusCounts(runs, activeStatuses)}`,
    `          ${statusCounts(runs, terminalStatuses)}`,
  ];
  if (traffic.rejected > 0) lines.push(`  rejected ${traffic.rejected}: ${traffic.lastRejection ?? ""}`);
  return lines;
}

function summaryLine({ elapsedMs, traffic, runs }: SummarySnapshot): string {
  const events = `events ${traffic.received} (duplicates ignored ${traffic.duplicatesIgnored}, unmatched ${traffic.unmatched})`;
  const rejected = traffic.rejected > 0 ? ` | rejected ${traffic.rejected}` : "";
  return `[${Math.round(elapsedMs / 1000)}s] ${events} | runs ${statusCounts(runs, runStatuses)}${rejected}`;
}

function statusCounts(runs: Partial<Record<RunStatus, number>>, statuses: readonly RunStatus[]): string {
  return statuses.map((status) => `${status} ${runs[status] ?? 0}`).join(" · ");
}
