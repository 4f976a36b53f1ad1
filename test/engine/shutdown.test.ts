import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("graceful shutdown on $name", (backend) => {
  const t = useTestStorage(backend);

  it("stop() keeps renewing the leases of runs it lets finish: a run that outlasts its lease during the stop still completes", async () => {
    let entered: () => void = () => {};
    const inSecondStep = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const engine = testEngine({
      storage: t.storage,
      worker: { leaseMs: 1000 },
      integrations: [
        defineIntegration({
          id: "outlasts-its-lease",
          trigger: { event: "job" },
          async run({ step }) {
            await step.run("long", async () => {
              entered();
              await new Promise((resolve) => setTimeout(resolve, 2500));
            });
            await step.run("after", () => "done");
          },
        }),
      ],
    });
    await engine.start();
    const runId = (await engine.send({ type: "job", payload: {} })).runIds[0] as string;
    await inSecondStep;
    await engine.stop({ deadlineMs: 10_000 });
    expect(await t.storage.getRun(runId)).toMatchObject({ status: "succeeded", crashes: 0 });
  });

  it("stop() lets quick in-flight steps finish, releases runs still busy at the deadline, and keeps their journal", async () => {
    const started = new Set<number>();
    let releaseSlow: () => void = () => {};
    const slowGate = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const engine = testEngine({
      storage: t.storage,
      integrations: [
        defineIntegration<{ slow: boolean; n: number }>({
          id: "work",
          trigger: { event: "job" },
          async run({ event, step }) {
            await step.run("first", () => event.payload.n);
            await step.run("second", async () => {
              started.add(event.payload.n);
              if (event.payload.slow) await slowGate;
              else await new Promise((resolve) => setTimeout(resolve, 50));
            });
          },
        }),
      ],
    });
    await engine.start();
    const quick = (await engine.send({ type: "job", payload: { slow: false, n: 1 } })).runIds[0] as string;
    const slow = (await engine.send({ type: "job", payload: { slow: true, n: 2 } })).runIds[0] as string;
    await waitFor("both runs to be in their second step", () => started.size === 2);

    await engine.stop({ deadlineMs: 1000 });
    releaseSlow();

    expect((await t.storage.getRun(quick))?.status).toBe("succeeded");
    const released = await t.storage.getRun(slow);
    expect(released?.status).toBe("queued");
    expect((await t.storage.listSteps(slow)).map((s) => s.name)).toEqual(["first"]);
    // The slow step finished after the release: its result is refused, since the run is no longer leased to it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await t.storage.listSteps(slow)).map((s) => s.name)).toEqual(["first"]);

    // Another worker picks the released run up and resumes it at the second step.
    const next = testEngine({
      storage: t.storage,
      integrations: [
        defineIntegration<{ n: number }>({
          id: "work",
          trigger: { event: "job" },
          async run({ event, step }) {
            await step.run("first", () => {
              throw new Error("first must not run again");
            });
            await step.run("second", () => event.payload.n);
          },
        }),
      ],
    });
    await next.start();
    try {
      await waitForRunStatus(t.storage, slow, "succeeded");
    } finally {
      await next.stop();
    }
  });
});
