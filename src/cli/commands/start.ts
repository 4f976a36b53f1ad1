import pino from "pino";
import { loadConfig } from "../../config/load-config.ts";
import { describeDatabase, readSettings } from "../../config/settings.ts";
import { type ConnectionSummary, Connections } from "../../connections/connections.ts";
import { openVault } from "../../connections/vault/open-vault.ts";
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
  const vault = openVault({ logger });
  const storage = openStorageFromSettings(settings);
  const polls = config.polls ?? [];
  let address: string | undefined;
  const connections = new Connections({
    storage,
    vault,
    configs: config.connections ?? {},
    logger,
    audit: { retentionMs: settings.auditRetentionMs },
    // Read when an authorisation starts, so without TENON_PUBLIC_URL the redirect URI is the address
    // actually listened on (port 0 included); no request can arrive before it is known.
    get publicUrl() {
      return settings.publicUrl ?? (address === undefined ? undefined : reachableFromBrowser(address));
    },
  });
  const engine = createEngine({
    storage,
    integrations: config.integrations,
    polls,
    connections,
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
    connections,
    reservedSources: polls.map((poll) => poll.id),
  });
  let connectionStates: Record<string, string>;
  try {
    await engine.start();
    connections.start();
    connectionStates = Object.fromEntries(
      (await connections.list()).map((summary) => [summary.id, describeState(summary)]),
    );
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
      connections: connectionStates,
      concurrency: settings.workerConcurrency,
    },
    "ready",
  );
}

/**
 * A wildcard listen address is no place to send a browser; the loopback one on the same port is.
 * Fastify already reports 0.0.0.0 as 127.0.0.1, but the IPv6 wildcard as [::].
 */
function reachableFromBrowser(address: string): string {
  return address.replace("://[::]:", "://[::1]:");
}

function describeState(summary: ConnectionSummary): string {
  if (summary.status === "auth_failed") return `auth_failed: ${summary.statusReason ?? "credentials rejected"}`;
  return summary.circuit.status === "closed" ? summary.status : `${summary.status}, circuit ${summary.circuit.status}`;
}
