import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("concurrency keys on $name", (backend) => {
  const t = useTestStorage(backend);

  it("runs sharing a key never overlap and finish in enqueue order, while other keys run in parallel", async () => {
    const running = new Map<string, number>();
    let maxOverlapPerKey = 0;
    let maxParallelOverall = 0;
    let overall = 0;
    const finished = new Map<string, number[]>();
    const engine = testEngine({
      storage: t.storage,
      worker: { concurrency: 20 },
      integrations: [
        defineIntegration<{ customer: string; n: number }>({
          id: "per-customer",
          trigger: { event: "order.created" },
          concurrency: { key: (event) => event.payload.customer },
          async run({ event, step }) {
            const { customer, n } = event.payload;
            await step.run("sync", async () => {
              running.set(customer, (running.get(customer) ?? 0) + 1);
              overall++;
              maxOverlapPerKey = Math.max(maxOverlapPerKey, running.get(customer) ?? 0);
              maxParallelOverall = Math.max(maxParallelOverall, overall);
              await new Promise((resolve) => setTimeout(resolve, 5 + (n % 3) * 5));
              running.set(customer, (running.get(customer) ?? 1) - 1);
              overall--;
            });
            await step.run("record", () => {
              finished.set(customer, [...(finished.get(customer) ?? []), n]);
            });
          },
        }),
      ],
    });
    await engine.start();
    try {
      const customers = ["ada", "bob", "cyd", "dee"];
      const sends = [];
      for (let n = 0; n < 40; n++) {
        sends.push(engine.send({ type: "order.created", payload: { customer: customers[n % 4], n } }));
      }
      await Promise.all(sends);
      await waitFor("all 40 runs to finish", async () => (await t.storage.countRunsByStatus()).succeeded === 40);
      expect(maxOverlapPerKey).toBe(1);
      expect(maxParallelOverall).toBeGreaterThan(1);
      for (const [index, customer] of customers.entries()) {
        const expected = Array.from({ length: 10 }, (_, i) => i * 4 + index);
        expect(finished.get(customer)).toEqual(expected);
      }
    } finally {
      await engine.stop();
    }
  });

  it("a key's limit of 2 allows two at a time, and a failed run still frees its slot", async () => {
    let active = 0;
    let maxActive = 0;
    const engine = testEngine({
      storage: t.storage,
      worker: { concurrency: 20 },
      integrations: [
        defineIntegration<{ n: number }>({
          id: "pairs",
          trigger: { event: "job" },
          concurrency: { key: () => "shared", limit: 2 },
          retries: { maxAttempts: 1 },
          async run({ event, step }) {
            await step.run("work", async () => {
              active++;
              maxActive = Math.max(maxActive, active);
              await new Promise((resolve) => setTimeout(resolve, 10));
              active--;
              if (event.payload.n === 0) throw new Error("first one fails");
            });
          },
        }),
      ],
    });
    await engine.start();
    try {
      await Promise.all(Array.from({ length: 10 }, (_, n) => engine.send({ type: "job", payload: { n } })));
      await waitFor("10 runs to finish", async () => {
        const counts = await t.storage.countRunsByStatus();
        return (counts.succeeded ?? 0) + (counts.dead ?? 0) === 10;
      });
      expect(maxActive).toBe(2);
      expect((await t.storage.countRunsByStatus()).dead).toBe(1);
    } finally {
      await engine.stop();
    }
  });
});
