import pino from "pino";
import { loadConfig } from "../../config/load-config.ts";
import { describeDatabase, readSettings } from "../../config/settings.ts";
import { createEngine } from "../../engine/engine.ts";
import { resolveWebhookSources } from "../../ingestion/webhooks/webhook-sources.ts";
import { createServer } from "../../server/create-server.ts";
import { onShutdownSignal } from "../shutdown.ts";
import { openStorageFromSettings } from "../storage-from-settings.ts";

const stopDeadlineMs = 10_000;

/** `tenon start`: runs the HTTP server (webhooks, API), the worker, the schedules and the polls until SIGTERM or SIGINT. */
export async function startCommand(options: { config: string }): Promise<void> {
  const config = await loadConfig(options.config);
  const settings = readSettings(process.env, { worker: config.worker ?? {} });
  const webhookSources = resolveWebhookSources(config.webhooks ?? {});
  const logger = pino({ level: settings.logLevel });
  const storage = openStorageFromSettings(settings);
  const polls = config.polls ?? [];
  const engine = createEngine({
    storage,
    integrations: config.integrations,
    polls,
    worker: { concurrency: settings.workerConcurrency, leaseMs: settings.leaseMs },
    logger,
  });
  const server = createServer({
    engine,
    logger,
    webhookSources,
    apiTokens: settings.apiTokens,
    bodyLimit: settings.bodyLimit,
    publicUrl: settings.publicUrl,
    reservedSources: polls.map((poll) => poll.id),
  });
  let address: string;
  try {
    await engine.start();
    address = await server.listen({ host: settings.httpHost, port: settings.httpPort });
  } catch (error) {
    await engine.stop({ deadlineMs: 0 }).catch(() => {});
    await storage.close();
    throw error;
  }
  // Listen for signals before saying ready: whoever waits for "ready" may send SIGTERM the next instant.
  onShutdownSignal(async (signal) => {
    logger.info({ signal, deadlineMs: stopDeadlineMs }, "stopping: no new requests, finishing in-flight runs");
    // The server first: every request it answered was committed before its answer.
    await server.close();
    await engine.stop({ deadlineMs: stopDeadlineMs });
    await storage.close();
    logger.info("stopped");
  });
  logger.info(
    {
      database: describeDatabase(settings),
      url: address,
      webhooks: [...webhookSources.keys()].map((id) => `${address}/hooks/${id}`),
      api: settings.apiTokens.length > 0 ? `${address}/api/events` : "disabled (set TENON_API_TOKENS)",
      integrations: config.integrations.map((integration) => integration.id),
      polls: polls.map((poll) => poll.id),
      concurrency: settings.workerConcurrency,
    },
    "ready",
  );
}
