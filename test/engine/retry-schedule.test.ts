import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("a fixed retry schedule on $name", (backend) => {
  const t = useTestStorage(backend);

  it("retries after exactly each delay of the schedule, without jitter, and ends dead after its last entry", async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const engine = testEngine({
      storage: t.storage,
      clock,
      // Full jitter would draw from [0, ceiling]: a schedule takes no draw.
      random: () => 0.25,
      integrations: [
        defineIntegration({
          id: "deliver",
          trigger: { event: "x" },
          retries: { schedule: ["5s", "5m", "30m"] },
          run: ({ step }) =>
            step.run("post", () => {
              attempts++;
              throw new Error("receiver answered 500");
            }),
        }),
      ],
    });
    await engine.start();
    try {
      const runId = (await engine.send({ type: "x", payload: {} })).runIds[0] as string;
      for (const [attempt, delay] of [
        [1, 5_000],
        [2, 300_000],
        [3, 1_800_000],
      ] as const) {
        await waitFor(`attempt ${attempt}`, () => attempts === attempt);
        const run = await waitForRunStatus(t.storage, runId, "retrying");
        expect(run.availableAt - clock.now()).toBe(delay);
        clock.advance(delay);
        engine.wake();
      }
      const dead = await waitForRunStatus(t.storage, runId, "dead");
      expect(attempts).toBe(4);
      expect(dead.lastError).toContain("retries exhausted after 4 attempts");
    } finally {
      await engine.stop();
    }
  });

  it("a step's own schedule overrides the integration's exponential policy", async () => {
    const clock = new ManualClock();
    const engine = testEngine({
      storage: t.storage,
      clock,
      random: () => 1,
      integrations: [
        defineIntegration({
          id: "mixed",
          trigger: { event: "x" },
          retries: { maxAttempts: 10, initialDelay: "1s" },
          run: ({ step }) =>
            step.run(
              "post",
              () => {
                throw new Error("down");
              },
              { retries: { schedule: ["2h"] } },
            ),
        }),
      ],
    });
    await engine.start();
    try {
      const runId = (await engine.send({ type: "x", payload: {} })).runIds[0] as string;
      const run = await waitForRunStatus(t.storage, runId, "retrying");
      expect(run.availableAt - clock.now()).toBe(7_200_000);
      clock.advance(7_200_000);
      engine.wake();
      await waitForRunStatus(t.storage, runId, "dead");
    } finally {
      await engine.stop();
    }
  });
});

describe("a retry schedule's mistakes fail when the integration is defined", () => {
  const define = (retries: object) =>
    defineIntegration({ id: "x", trigger: { event: "x" }, retries, run: () => undefined });

  it("names what is wrong and what to do", () => {
    expect(() => define({ schedule: ["5s"], maxAttempts: 3 })).toThrow(
      'integration "x": retries.schedule sets every retry\'s delay and the number of attempts (one more than its delays): drop maxAttempts',
    );
    expect(() => define({ schedule: ["5s", "soon"] })).toThrow(
      'integration "x": retries.schedule[1]: duration "soon" is not understood; use e.g. 500ms, 30s, 5m, 2h or 1d',
    );
    expect(() => define({ schedule: "5s" })).toThrow("retries.schedule must be an array of durations");
    expect(() => define({ maxAttempts: 0 })).toThrow("retries.maxAttempts must be an integer ≥ 1, got 0");
  });
});
