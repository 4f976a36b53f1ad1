import { mkdirSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import pino from "pino";
import { readSandboxWebhookTimeScale, readSettings } from "../../config/settings.ts";
import { startDevEnvironment } from "../../demo/dev-environment.ts";
import { engineSummary } from "../../demo/engine-summary.ts";
import { startLiveSummary } from "../../demo/live-summary.ts";
import { onShutdownSignal } from "../shutdown.ts";

const stopDeadlineMs = 10_000;

/**
 * `tenon dev`: your project's integrations against the sandbox, on a fresh local SQLite file, with the
 * live summary. The sandbox's credentials are in the environment your config reads (`tenon sandbox` lists
 * them); drive it with the sandbox's control routes (`POST /_sandbox/store/orders`, faults, …).
 */
export async function devCommand(options: { config: string; sandboxPort: number }): Promise<void> {
  const settings = readSettings(process.env, { defaultSqlitePath: ".tenon/dev.db" });
  const directory = join(process.cwd(), ".tenon");
  mkdirSync(directory, { recursive: true });
  const databasePath = settings.sqlitePath;
  const logPath = join(directory, "dev.log");
  // The sandbox starts empty with new credentials each time, so runs and stored tokens of an earlier
  // session would point at records and grants that no longer exist: each session starts from nothing.
  for (const file of [databasePath, `${databasePath}-wal`, `${databasePath}-shm`, logPath])
    rmSync(file, { force: true });
  const logger = pino({ level: settings.logLevel }, pino.destination({ dest: logPath, sync: true }));
  const dev = await startDevEnvironment({
    configPath: options.config,
    databasePath,
    settings,
    logger,
    sandboxPort: options.sandboxPort,
    // Real time unless asked: what a developer sees here is what the providers will do.
    webhookTimeScale: readSandboxWebhookTimeScale() ?? 1,
  });
  const shown = (path: string) => relative(process.cwd(), path);
  console.log(
    [
      `Tenon dev: ${shown(resolve(options.config))} against the sandbox. Press Ctrl-C to stop.`,
      `  Tenon     ${dev.services.address}   webhooks at /hooks/<source>`,
      `  Sandbox   ${dev.sandbox.url}/_sandbox   state at /_sandbox/<system>/state, faults at /_sandbox/<system>/faults`,
      `  Database ${shown(databasePath)}; engine log ${shown(logPath)}`,
      `  Environment: ${Object.keys(dev.environment).join(", ")}`,
      "",
    ].join("\n"),
  );
  const startedAt = Date.now();
  const snapshot = () => engineSummary(dev, { title: "Tenon dev", elapsedMs: Date.now() - startedAt, extra: [] });
  const summary = startLiveSummary(process.stdout, snapshot);
  onShutdownSignal(async (reason) => {
    summary.freeze(`stopping (${reason}): letting the runs in flight finish…`);
    await dev.stop(stopDeadlineMs);
  });
}
