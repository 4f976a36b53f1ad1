/** One screen of the summary: `block` on a terminal, redrawn in place; `line` appended anywhere else. */
export interface SummarySnapshot {
  block: string[];
  line: string;
}

export interface LiveSummary {
  /** Stops the periodic redraw and shows `note` under the last snapshot (e.g. "stopping…"). */
  freeze(note: string): void;
  /** Shows the final snapshot: in place of the live one on a terminal, as one more line elsewhere. */
  showFinal(snapshot: SummarySnapshot): void;
}

const ttyRedrawMs = 1000;
const plainLineMs = 5000;

/**
 * On a terminal, redraws one screen in place every second; anywhere else (a pipe, a CI log), appends
 * one line every five seconds, since cursor movement would be noise there.
 */
export function startLiveSummary(out: NodeJS.WriteStream, read: () => Promise<SummarySnapshot>): LiveSummary {
  const tty = out.isTTY === true;
  let drawnLines = 0;
  let drawing = false;
  let last: SummarySnapshot | undefined;

  const draw = (snapshot: SummarySnapshot, note?: string) => {
    last = snapshot;
    if (!tty) {
      out.write(`${note ?? snapshot.line}\n`);
      return;
    }
    const lines = note === undefined ? snapshot.block : [...snapshot.block, `  ${note}`];
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
