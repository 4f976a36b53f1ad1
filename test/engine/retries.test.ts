import { beforeEach, describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { NonRetryableError, RetryableError } from "../../src/sdk/errors.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("retries on $name", (backend) => {
  const t = useTestStorage(backend);
  let clock: ManualClock;

  beforeEach(() => {
    clock = new ManualClock();
  });

  it("a run whose 2nd of 3 steps fails twice then succeeds runs step 1 once, step 2 three times with one idempotency key, step 3 once, on the backoff schedule", async () => {
    const calls = { one: 0, two: 0, three: 0 };
    const keys: string[] = [];
    const integration = defineIntegration({
      id: "flaky",
      trigger: { event: "order.created" },
      retries: { maxAttempts: 5, initialDelay: "1s", maxDelay: "1m" },
      async run({ step }) {
        await step.run("one", () => ++calls.one);
        await step.run("two", ({ idempotencyKey, attempt }) => {
          calls.two++;
          keys.push(idempotencyKey);
          if (attempt < 3) throw new Error(`upstream 503 on attempt ${attempt}`);
          return "ok";
        });
        await step.run("three", () => ++calls.three);
        return "done";
      },
    });
    // Full jitter draws from [0, ceiling]; pinning the draw at 0.5 makes each delay exactly half its ceiling.
    const engine = testEngine({ storage: t.storage, integrations: [integration], clock, random: () => 0.5 });
    await engine.start();
    try {
      const { runIds } = await engine.send({ type: "order.created", payload: { order: 1 } });
      const runId = runIds[0] as string;

      const first = await waitForRunStatus(t.storage, runId, "retrying");
      expect(first.availableAt - clock.now()).toBe(500); // 0.5 × 1 s · 2^0
      expect(first.lastError).toContain("upstream 503 on attempt 1");

      clock.advance(499);
      engine.wake();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(calls.two).toBe(1); // not due yet

      clock.advance(1);
      engine.wake();
      await waitFor("the second attempt of step two", () => calls.two === 2);
      const second = await waitForRunStatus(t.storage, runId, "retrying");
      expect(second.availableAt - clock.now()).toBe(1000); // 0.5 × 1 s · 2^1

      clock.advance(1000);
      engine.wake();
      const done = await waitForRunStatus(t.storage, runId, "succeeded");
      expect(done.outputJson).toBe('"done"');
      expect(calls).toEqual({ one: 1, two: 3, three: 1 });
      expect(new Set(keys).size).toBe(1);
      expect(keys[0]).toBe(`${runId}:two`);

      const steps = await t.storage.listSteps(runId);
      const journal = steps
        .map((s) => [s.name, s.status, s.failures])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(journal).toEqual([
        ["one", "completed", 0],
        ["three", "completed", 0],
        ["two", "completed", 2],
      ]);
    } finally {
      await engine.stop();
    }
  });

  it("exhausted retries end the run as dead with the last error; a NonRetryableError ends it as failed at once", async () => {
    let attempts = 0;
    const engine = testEngine({
      storage: t.storage,
      clock,
      random: () => 1,
      integrations: [
        defineIntegration({
          id: "always-down",
          trigger: { event: "x" },
          retries: { maxAttempts: 3, initialDelay: 100 },
          run: ({ step }) =>
            step.run("call", () => {
              attempts++;
              throw new Error("connection refused");
            }),
        }),
        defineIntegration({
          id: "bad-data",
          trigger: { event: "y" },
          run: ({ step }) =>
            step.run("validate", () => {
              throw new NonRetryableError("order has no customer email");
            }),
        }),
      ],
    });
    await engine.start();
    try {
      const dead = (await engine.send({ type: "x", payload: {} })).runIds[0] as string;
      const failed = (await engine.send({ type: "y", payload: {} })).runIds[0] as string;
      const failedRun = await waitForRunStatus(t.storage, failed, "failed");
      expect(failedRun.lastError).toContain("order has no customer email");
      for (let attempt = 1; attempt <= 2; attempt++) {
        await waitFor(`attempt ${attempt}`, () => attempts === attempt);
        await waitForRunStatus(t.storage, dead, "retrying");
        clock.advance(1000);
        engine.wake();
      }
      const deadRun = await waitForRunStatus(t.storage, dead, "dead");
      expect(attempts).toBe(3);
      expect(deadRun.lastError).toContain("retries exhausted after 3 attempts");
      expect(deadRun.lastError).toContain("connection refused");
    } finally {
      await engine.stop();
    }
  });

  it("RetryableError.retryAfterMs overrides the backoff, and a step's own policy overrides the integration's", async () => {
    const engine = testEngine({
      storage: t.storage,
      clock,
      random: () => 1,
      integrations: [
        defineIntegration({
          id: "rate-limited",
          trigger: { event: "x" },
          retries: { maxAttempts: 10, initialDelay: "1s" },
          run: async ({ step }) => {
            await step.run("limited", () => {
              throw new RetryableError("429 Too Many Requests", { retryAfterMs: 7000 });
            });
          },
        }),
        defineIntegration({
          id: "strict-step",
          trigger: { event: "y" },
          retries: { maxAttempts: 10 },
          run: async ({ step }) => {
            await step.run(
              "once",
              () => {
                throw new Error("nope");
              },
              { retries: { maxAttempts: 1 } },
            );
          },
        }),
      ],
    });
    await engine.start();
    try {
      const limited = (await engine.send({ type: "x", payload: {} })).runIds[0] as string;
      const strict = (await engine.send({ type: "y", payload: {} })).runIds[0] as string;
      const run = await waitForRunStatus(t.storage, limited, "retrying");
      expect(run.availableAt - clock.now()).toBe(7000);
      await waitForRunStatus(t.storage, strict, "dead");
    } finally {
      await engine.stop();
    }
  });
});
