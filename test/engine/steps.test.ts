import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("steps on $name", (backend) => {
  const t = useTestStorage(backend);

  it("journals each call of a repeated step name as name, name#2, name#3 with distinct idempotency keys, so loops work", async () => {
    const keys: string[] = [];
    const engine = testEngine({
      storage: t.storage,
      integrations: [
        defineIntegration<{ items: string[] }>({
          id: "loop",
          trigger: { event: "batch" },
          async run({ event, step }) {
            const results: string[] = [];
            for (const item of event.payload.items) {
              results.push(
                await step.run("charge", ({ idempotencyKey }) => {
                  keys.push(idempotencyKey);
                  return `charged ${item}`;
                }),
              );
            }
            return results;
          },
        }),
      ],
    });
    await engine.start();
    try {
      const runId = (await engine.send({ type: "batch", payload: { items: ["a", "b", "c"] } })).runIds[0] as string;
      const run = await waitForRunStatus(t.storage, runId, "succeeded");
      expect(JSON.parse(run.outputJson ?? "null")).toEqual(["charged a", "charged b", "charged c"]);
      const names = (await t.storage.listSteps(runId)).map((s) => s.name).sort();
      expect(names).toEqual(["charge", "charge#2", "charge#3"]);
      expect(keys).toEqual([`${runId}:charge`, `${runId}:charge#2`, `${runId}:charge#3`]);
    } finally {
      await engine.stop();
    }
  });

  it("a completed step is not executed again when the run is replayed; its journaled (JSON) result is returned instead", async () => {
    let executions = 0;
    const seen: unknown[] = [];
    const engine = testEngine({
      storage: t.storage,
      integrations: [
        defineIntegration({
          id: "once",
          trigger: { event: "x" },
          async run({ step }) {
            const value = await step.run("fetch", () => {
              executions++;
              return { at: new Date(Date.UTC(2026, 0, 2)), n: 1 };
            });
            seen.push(value);
            return value;
          },
        }),
      ],
    });
    await engine.start();
    try {
      const runId = (await engine.send({ type: "x", payload: {} })).runIds[0] as string;
      await waitForRunStatus(t.storage, runId, "succeeded");
      await engine.replay(runId);
      await waitForRunStatus(t.storage, runId, "succeeded");
      expect(executions).toBe(1);
      // First execution and replay see the same value: the JSON round trip happens both times.
      expect(seen).toEqual([
        { at: "2026-01-02T00:00:00.000Z", n: 1 },
        { at: "2026-01-02T00:00:00.000Z", n: 1 },
      ]);
    } finally {
      await engine.stop();
    }
  });

  it("step.sleep is a durable timer: the run is released (no worker holds it) and resumes after the duration", async () => {
    const clock = new ManualClock();
    const trace: string[] = [];
    const engine = testEngine({
      storage: t.storage,
      clock,
      integrations: [
        defineIntegration({
          id: "follow-up",
          trigger: { event: "appointment.completed" },
          async run({ step }) {
            await step.run("note", () => trace.push("note"));
            await step.sleep("wait-a-day", "1d");
            await step.run("ask-for-review", () => trace.push("review"));
            await step.sleepUntil("until-tomorrow-noon", clock.now() + 3_600_000);
            await step.run("close", () => trace.push("close"));
          },
        }),
      ],
    });
    await engine.start();
    try {
      const runId = (await engine.send({ type: "appointment.completed", payload: {} })).runIds[0] as string;
      const sleeping = await waitForRunStatus(t.storage, runId, "sleeping");
      expect(sleeping.availableAt - clock.now()).toBe(86_400_000);
      expect(trace).toEqual(["note"]);

      clock.advance(86_400_000 - 1);
      engine.wake();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await t.storage.getRun(runId))?.status).toBe("sleeping");

      clock.advance(1);
      engine.wake();
      // Second sleep: its wake time is journaled, so it survives any restart unchanged.
      const wakeAt = clock.now() + 3_600_000;
      await waitFor("the second sleep", async () => (await t.storage.getRun(runId))?.availableAt === wakeAt);
      expect(trace).toEqual(["note", "review"]);
      expect((await t.storage.getRun(runId))?.status).toBe("sleeping");
      clock.advance(3_600_000);
      engine.wake();
      await waitForRunStatus(t.storage, runId, "succeeded");
      expect(trace).toEqual(["note", "review", "close"]);
    } finally {
      await engine.stop();
    }
  });
});
