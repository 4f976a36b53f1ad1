import { mkdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { loadConfig } from "../../config/load-config.ts";
import { readDemoDurationMs, readSettings } from "../../config/settings.ts";
import { createEngine } from "../../engine/engine.ts";
import { openStorage } from "../../storage/open-storage.ts";
import { type SummarySnapshot, startLiveSummary } from "../demo/live-summary.ts";
import { startStoreTraffic } from "../demo/store-traffic.ts";
import { onShutdownSignal } from "../shutdown.ts";

const examplesConfig = fileURLToPath(new URL("../../../examples/tenon.config.ts", import.meta.url));
const stopDeadlineMs = 10_000;

/**
 * `tenon demo` (what `npm start` runs): the example integrations on a fresh
 * SQLite file, fed by a simulated store, with a live summary of what happened.
 */
export async function demoCommand(): Promise<void> {
  const settings = readSettings();
  const durationMs = readDemoDurationMs();
  const directory = join(process.cwd(), ".tenon");
  const databasePath = join(directory, "demo.db");
  const logPath = join(directory, "demo.log");
  // Each demo starts from nothing, so what the summary shows is what this demo did.
  const previousDemo = [databasePath, `${databasePath}-wal`, `${databasePath}-shm`, logPath];
  for (const file of previousDemo) rmSync(file, { force: true });
  mkdirSync(directory, { recursive: true });

  const config = await loadConfig(examplesConfig);
  // The screen belongs to the summary; the engine's own log goes to a file beside the database.
  const logger = pino({ level: settings.logLevel }, pino.destination({ dest: logPath, sync: true }));
  const storage = openStorage({ sqlitePath: databasePath, sqliteSynchronous: settings.sqliteSynchronous });
  const engine = createEngine({
    storage,
    integrations: config.integrations,
    worker: { concurrency: settings.workerConcurrency, leaseMs: settings.leaseMs },
    logger,
  });
  await engine.start();

  const shown = (path: string) => relative(process.cwd(), path);
  const ids = config.integrations.map((integration) => integration.id).join(", ");
  const header = [
    "Tenon demo: a live summary of the engine at work. Press Ctrl-C to stop.",
    `  The engine runs the example integrations (${ids}) from ${shown(examplesConfig)}`,
    `  on a fresh SQLite database, ${shown(databasePath)}. A simulated store sends a few events a second:`,
    "  orders, now and then a redelivered order (ignored as a duplicate), an event no integration",
    "  handles (unmatched) and an order with a broken email (its run fails: bad data, no retry).",
    `  Steps fail ~10% of the time on purpose, so retries show up. Engine log: ${shown(logPath)}`,
  ];
  if (durationMs !== undefined) header.push(`  It stops by itself after ${durationMs / 1000} s (DEMO_DURATION_S).`);
  console.log(`${header.join("\n")}\n`);

  const startedAt = Date.now();
  const traffic = startStoreTraffic(engine);
  const snapshot = async (): Promise<SummarySnapshot> => ({
    elapsedMs: Date.now() - startedAt,
    traffic: traffic.counts,
    runs: await storage.countRunsByStatus(),
  });
  const summary = startLiveSummary(process.stdout, snapshot);

  const shutDown = onShutdownSignal(async (reason) => {
    await traffic.stop();
    summary.freeze(`stopping (${reason}): letting the runs in flight finish…`);
    await engine.stop({ deadlineMs: stopDeadlineMs });
    summary.showFinal(await snapshot());
    await storage.close();
    console.log(
      `\nDemo stopped (${reason}). Its runs: TENON_SQLITE_PATH=${shown(databasePath)} node bin/tenon.js runs`,
    );
  });
  if (durationMs !== undefined) setTimeout(() => shutDown("DEMO_DURATION_S elapsed"), durationMs);
}
