/** One screen of the summary: `block` on a terminal, redrawn in place; `line` appended anywhere else. */
export interface SummarySnapshot {
  block: string[];
  line: string;
}

export interface LiveSummary {
  /** Shows `message` (one line or several) above the summary, which stays whole below it on a terminal. */
  print(message: string): void;
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
  let frozenNote: string | undefined;

  /** On a terminal: back to the first line drawn last time, clear to the end of the screen, draw again. */
  const redraw = (above: string) => {
    const rewind = drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : "";
    const block = last === undefined ? [] : last.block;
    const lines = frozenNote === undefined ? block : [...block, `  ${frozenNote}`];
    out.write(`${rewind}${above}${lines.map((line) => `${line}\n`).join("")}`);
    drawnLines = lines.length;
  };

  const draw = (snapshot: SummarySnapshot) => {
    last = snapshot;
    if (tty) redraw("");
    else out.write(`${snapshot.line}\n`);
  };

  const print = (message: string) => {
    if (tty) redraw(`${message}\n`);
    else out.write(`${message}\n`);
  };

  const timer = setInterval(
    () => {
      if (drawing) return;
      drawing = true;
      read()
        .then((snapshot) => {
          // A read that was under way when the summary froze would draw over the note.
          if (frozenNote === undefined) draw(snapshot);
        })
        .catch((error: unknown) => print(`summary unavailable: ${(error as Error).message}`))
        .finally(() => {
          drawing = false;
        });
    },
    tty ? ttyRedrawMs : plainLineMs,
  );

  return {
    print,
    freeze(note) {
      clearInterval(timer);
      frozenNote = note;
      if (tty) redraw("");
      else out.write(`  ${note}\n`);
    },
    showFinal(snapshot) {
      frozenNote = undefined;
      draw(snapshot);
    },
  };
}
