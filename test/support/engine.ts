import pino from "pino";
import { createEngine, type EngineOptions } from "../../src/engine/engine.ts";
import type { RunStatus, Storage } from "../../src/storage/contract.ts";
import { waitFor } from "./wait.ts";

export const silentLogger = pino({ level: "silent" });

/** An engine tuned for tests: quick polling, silent logs. */
export function testEngine(options: Omit<EngineOptions, "logger"> & Partial<Pick<EngineOptions, "logger">>) {
  return createEngine({
    logger: silentLogger,
    ...options,
    worker: options.worker === false ? false : { pollIntervalMs: 20, ...options.worker },
  });
}

export async function waitForRunStatus(
  storage: Storage,
  runId: string,
  status: RunStatus | RunStatus[],
  timeoutMs?: number,
) {
  const wanted = Array.isArray(status) ? status : [status];
  return waitFor(
    `run ${runId} to be ${wanted.join(" or ")}`,
    async () => {
      const run = await storage.getRun(runId);
      return run && wanted.includes(run.status) ? run : null;
    },
    timeoutMs,
  );
}
