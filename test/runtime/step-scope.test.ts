import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { currentRun, runInRun } from "../../src/runtime/run-scope.ts";
import { currentStep, runInStep } from "../../src/runtime/step-scope.ts";

const charge = { runId: "run-1", stepName: "charge", idempotencyKey: "run-1:charge", attempt: 1 };

/** The keys an attempt's writes get, with awaits between them as real requests have. */
function writeKeysOf(attempt: typeof charge, writes: number): Promise<string[]> {
  return runInStep(attempt, async () => {
    const keys: string[] = [];
    for (let i = 0; i < writes; i++) {
      await nextTurn();
      const key = currentStep()?.nextWriteKey();
      if (key !== undefined) keys.push(key);
    }
    return keys;
  });
}

describe("the step scope", () => {
  it("gives each write of an attempt its own key, the step's key first, and the same keys on the next attempt", async () => {
    expect(await writeKeysOf(charge, 3)).toEqual(["run-1:charge", "run-1:charge:2", "run-1:charge:3"]);
    expect(await writeKeysOf({ ...charge, attempt: 2 }, 3)).toEqual([
      "run-1:charge",
      "run-1:charge:2",
      "run-1:charge:3",
    ]);
  });

  it("is seen across awaits within the run that executes the step, and not outside the step", async () => {
    const run = { runId: "run-1", integrationId: "billing", event: { source: "shop", type: "order.paid" } };
    const seen = await runInRun(run, () =>
      runInStep(charge, async () => {
        await nextTurn();
        return { step: currentStep()?.stepName, attempt: currentStep()?.attempt, run: currentRun()?.integrationId };
      }),
    );
    expect(seen).toEqual({ step: "charge", attempt: 1, run: "billing" });
    expect(currentStep()).toBeUndefined();
  });

  it("cannot be changed by the code that reads it: only nextWriteKey() moves it", () => {
    runInStep(charge, () => {
      const scope = currentStep();
      if (!scope) throw new Error("no step scope inside runInStep");
      expect(Reflect.set(scope, "idempotencyKey", "forged")).toBe(false);
      expect(Reflect.set(scope, "writes", 5)).toBe(false);
      expect(scope.nextWriteKey()).toBe("run-1:charge");
      expect(scope.nextWriteKey()).toBe("run-1:charge:2");
    });
  });
});
