import pino from "pino";
import { loadConfig } from "../../config/load-config.ts";
import { describeDatabase, readSettings } from "../../config/settings.ts";
import { createEngine } from "../../engine/engine.ts";
import { onShutdownSignal } from "../shutdown.ts";
import { openStorageFromSettings } from "../storage-from-settings.ts";

const stopDeadlineMs = 10_000;

/** `tenon start`: runs the worker and the schedules until SIGTERM or SIGINT. */
export async function startCommand(options: { config: string }): Promise<void> {
  const config = await loadConfig(options.config);
  const settings = readSettings(process.env, { worker: config.worker ?? {} });
  const logger = pino({ level: settings.logLevel });
  const storage = openStorageFromSettings(settings);
  const engine = createEngine({
    storage,
    integrations: config.integrations,
    worker: { concurrency: settings.workerConcurrency, leaseMs: settings.leaseMs },
    logger,
  });
  try {
    await engine.start();
  } catch (error) {
    await storage.close();
    throw error;
  }
  // Listen for signals before saying ready: whoever waits for "ready" may send SIGTERM the next instant.
  onShutdownSignal(async (signal) => {
    logger.info({ signal, deadlineMs: stopDeadlineMs }, "stopping: finishing in-flight runs");
    await engine.stop({ deadlineMs: stopDeadlineMs });
    await storage.close();
    logger.info("stopped");
  });
  logger.info(
    {
      database: describeDatabase(settings),
      integrations: config.integrations.map((integration) => integration.id),
      concurrency: settings.workerConcurrency,
    },
    "ready",
  );
}
