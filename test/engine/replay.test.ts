import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";

describe.each(backends)("replay on $name", (backend) => {
  const t = useTestStorage(backend);

  it("replay(runId) resumes a dead run from the failed step; replayEvent(eventId) starts a fresh run", async () => {
    const calls = { contact: 0, invoice: 0 };
    let accountingUp = false;
    const engine = testEngine({
      storage: t.storage,
      integrations: [
        defineIntegration({
          id: "order-to-invoice",
          trigger: { event: "order.created" },
          retries: { maxAttempts: 1 },
          async run({ step }) {
            await step.run("contact", () => ++calls.contact);
            return step.run("invoice", () => {
              calls.invoice++;
              if (!accountingUp) throw new Error("accounting is down");
              return "INV-1";
            });
          },
        }),
      ],
    });
    await engine.start();
    try {
      const { runIds, eventId } = await engine.send({ type: "order.created", payload: { order: 1 } });
      const runId = runIds[0] as string;
      expect((await waitForRunStatus(t.storage, runId, "dead")).lastError).toContain("accounting is down");

      accountingUp = true;
      const replayed = await engine.replay(runId);
      expect(replayed.status).toBe("queued");
      const done = await waitForRunStatus(t.storage, runId, "succeeded");
      expect(done.outputJson).toBe('"INV-1"');
      expect(calls).toEqual({ contact: 1, invoice: 2 });

      const fresh = await engine.replayEvent(eventId);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]).not.toBe(runId);
      await waitForRunStatus(t.storage, fresh[0] as string, "succeeded");
      expect(calls).toEqual({ contact: 2, invoice: 3 });

      await expect(engine.replay("no-such-run")).rejects.toThrow(/run no-such-run does not exist/);
      await expect(engine.replayEvent("no-such-event")).rejects.toThrow(/event no-such-event does not exist/);
    } finally {
      await engine.stop();
    }
  });
});
