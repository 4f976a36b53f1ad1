import { mkdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { loadConfig } from "../../config/load-config.ts";
import {
  readDemoDurationMs,
  readSandboxPort,
  readSandboxWebhookTimeScale,
  readSettings,
} from "../../config/settings.ts";
import { demoReconcileSchedule, scheduleReconciliations } from "../../demo/demo-reconciliations.ts";
import { startDemoTraffic } from "../../demo/demo-traffic.ts";
import { startDevEnvironment } from "../../demo/dev-environment.ts";
import { devSignInLink } from "../../demo/dev-sign-in.ts";
import { engineSummary, readEngineCounts } from "../../demo/engine-summary.ts";
import { startLiveSummary } from "../../demo/live-summary.ts";
import { createLogger } from "../../observability/logger.ts";
import { onShutdownSignal } from "../shutdown.ts";

const examplesConfig = fileURLToPath(new URL("../../../examples/tenon.config.ts", import.meta.url));
const stopDeadlineMs = 10_000;
/** A minute of a provider's retry schedule passes in a second: a refused webhook comes back while you watch. */
const defaultDemoWebhookTimeScale = 60;

/**
 * `tenon demo` (what `npm start` runs): the sandbox systems, the example integrations on a fresh
 * SQLite file, customers ordering and paying and appointments completing, faults now and then, records
 * changed out of band for the reconciliation (run every minute) to find and repair, and a live summary of
 * what happened.
 */
export async function demoCommand(): Promise<void> {
  const settings = readSettings();
  const durationMs = readDemoDurationMs();
  const sandboxPort = readSandboxPort();
  const directory = join(process.cwd(), ".tenon");
  const databasePath = join(directory, "demo.db");
  const logPath = join(directory, "demo.log");
  // Each demo starts from nothing (the sandbox too), so what the summary shows is what this demo did.
  for (const file of [databasePath, `${databasePath}-wal`, `${databasePath}-shm`, logPath])
    rmSync(file, { force: true });
  mkdirSync(directory, { recursive: true });
  const shown = (path: string) => relative(process.cwd(), path);

  // The screen belongs to the summary; the engine's own log goes to a file beside the database.
  const logger = await createLogger({
    level: settings.logLevel,
    destination: pino.destination({ dest: logPath, sync: true }),
  });
  const dev = await startDevEnvironment({
    purpose: "tenon demo",
    // Every minute, so what the traffic changes out of band is found and repaired while you watch.
    loadConfig: async () => scheduleReconciliations(await loadConfig(examplesConfig), demoReconcileSchedule),
    databasePath,
    settings,
    logger,
    sandboxPort,
    webhookTimeScale: readSandboxWebhookTimeScale() ?? defaultDemoWebhookTimeScale,
  });
  const tenonUrl = dev.services.address;
  const signIn = await devSignInLink(dev.services.engine.storage.sessions, tenonUrl);
  const ids = dev.config.integrations.map((integration) => integration.id).join(", ");
  const header = [
    "Tenon demo: the example integrations at work against the sandbox. Press Ctrl-C to stop.",
    `  Tenon     ${tenonUrl}   the dashboard; the API at /api, webhooks at /hooks/<source>`,
    `  Sign in   ${signIn}   (as admin; works once, within 10 minutes)`,
    `  Sandbox   ${dev.sandbox.url}/_sandbox   each system's records at /_sandbox/<system>/state, faults at /_sandbox/<system>/faults`,
    `  Integrations ${ids} (${shown(examplesConfig)}); database ${shown(databasePath)}; engine log ${shown(logPath)}`,
    "  Customers order (about one every two seconds) and pay; appointments complete. Every system fails 5% of requests,",
    "  and in turn: a burst of 429s, a 20 s CRM outage, the accounting token revoked and restored a minute later.",
    "  Out of band, the store loses an order's webhook and a person deletes an invoice in accounting; the",
    "  reconciliation store-vs-accounting runs every minute, finds the missing invoices and has them made again.",
    "  Alerts about them go to the sandbox's Slack channel and mailbox: /_sandbox/chat/state, /_sandbox/mail/state.",
  ];
  if (durationMs !== undefined) header.push(`  It stops by itself after ${durationMs / 1000} s (DEMO_DURATION_S).`);
  console.log(`${header.join("\n")}\n`);

  const startedAt = Date.now();
  const traffic = startDemoTraffic(dev.sandbox, tenonUrl);
  const snapshot = async () =>
    engineSummary(await readEngineCounts(dev.services), dev.sandbox, {
      title: "Tenon demo",
      elapsedMs: Date.now() - startedAt,
      extra: [
        `urls         Tenon ${tenonUrl} · sandbox ${dev.sandbox.url}/_sandbox/<system>/state`,
        `traffic      orders ${traffic.counts.orders} · payments ${traffic.counts.payments} · appointments ${traffic.counts.appointments}`,
        `faults       ${traffic.faultNote()}`,
      ],
    });
  const summary = startLiveSummary(process.stdout, snapshot);

  const shutDown = onShutdownSignal(async (reason) => {
    await traffic.stop();
    summary.freeze(`stopping (${reason}): letting the runs in flight finish…`);
    const final = await snapshot();
    await dev.stop(stopDeadlineMs);
    summary.showFinal(final);
    console.log(
      `\nDemo stopped (${reason}). Its runs: TENON_SQLITE_PATH=${shown(databasePath)} node bin/tenon.js runs`,
    );
  });
  if (durationMs !== undefined) setTimeout(() => shutDown("DEMO_DURATION_S elapsed"), durationMs);
}
