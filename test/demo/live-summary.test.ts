import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type SummarySnapshot, startLiveSummary } from "../../src/demo/live-summary.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function fakeStream(isTTY: boolean): { out: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const out = {
    isTTY,
    write: (text: string) => {
      written.push(text);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { out, written };
}

const snapshot: SummarySnapshot = { block: ["  Tenon dev", "  runs 1"], line: "runs 1" };

describe("the live summary", () => {
  it("on a terminal, prints a message above the summary and draws the summary again below it", async () => {
    const { out, written } = fakeStream(true);
    const summary = startLiveSummary(out, async () => snapshot);
    await vi.advanceTimersByTimeAsync(1000);
    expect(written).toEqual(["  Tenon dev\n  runs 1\n"]);

    summary.print("reloaded in 850 ms after src/order-sync.ts changed");
    // Up two lines, clear to the end of the screen, the message, the summary again.
    expect(written[1]).toBe("\x1b[2F\x1b[Jreloaded in 850 ms after src/order-sync.ts changed\n  Tenon dev\n  runs 1\n");

    summary.freeze("stopping");
    expect(written[2]).toBe("\x1b[2F\x1b[J  Tenon dev\n  runs 1\n  stopping\n");
    summary.print("stopped the engine");
    expect(written[3]).toBe("\x1b[3F\x1b[Jstopped the engine\n  Tenon dev\n  runs 1\n  stopping\n");
  });

  it("anywhere else, appends messages and summary lines as they come", async () => {
    const { out, written } = fakeStream(false);
    const summary = startLiveSummary(out, async () => snapshot);
    summary.print('reload failed: src/order-sync.ts:3:7: Expected ";"');
    await vi.advanceTimersByTimeAsync(5000);
    summary.freeze("stopping");
    summary.showFinal({ ...snapshot, line: "runs 2" });
    expect(written).toEqual([
      'reload failed: src/order-sync.ts:3:7: Expected ";"\n',
      "runs 1\n",
      "  stopping\n",
      "runs 2\n",
    ]);
  });
});
