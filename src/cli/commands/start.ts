import { describeConnectionState, startTenonServices } from "../../app/tenon-services.ts";
import { assertSecretsSet } from "../../config/assert-secrets-set.ts";
import { loadConfig } from "../../config/load-config.ts";
import { describeDatabase, readSettings } from "../../config/settings.ts";
import { openVault } from "../../connections/vault/open-vault.ts";
import { createLogger } from "../../observability/logger.ts";
import { onShutdownSignal } from "../shutdown.ts";
import { openStorageFromSettings } from "../storage-from-settings.ts";

/** How long runs in flight get to finish after SIGTERM; supervisors must wait longer (docs/deployment.md). */
export const stopDeadlineMs = 10_000;

/** `tenon start`: runs the HTTP server (webhooks, API), the worker, the schedules and the polls until SIGTERM or SIGINT. */
export async function startCommand(options: { config: string }): Promise<void> {
  const config = await loadConfig(options.config);
  assertSecretsSet(config, "tenon start");
  const settings = readSettings(process.env, { worker: config.worker ?? {} });
  const logger = await createLogger({ level: settings.logLevel });
  const vault = openVault({ logger });
  const storage = await openStorageFromSettings(settings);
  const services = await startTenonServices({ config, settings, storage, vault, logger });
  const { connections, webhookSources, address, metricsAddress } = services;
  // Listen for signals before saying ready: whoever waits for "ready" may send SIGTERM the next instant.
  onShutdownSignal(async (signal) => {
    logger.info({ signal, deadlineMs: stopDeadlineMs }, "stopping: no new requests, finishing in-flight runs");
    await services.stop(stopDeadlineMs);
    logger.info("stopped");
  });
  const connectionStates = Object.fromEntries(
    (await connections.list()).map((summary) => [summary.id, describeConnectionState(summary)]),
  );
  logger.info(
    {
      database: describeDatabase(settings),
      url: address,
      webhooks: [...webhookSources.keys()].map((id) => `${address}/hooks/${id}`),
      api:
        settings.apiTokens.length > 0 || (await storage.operatorAccess.hasActiveApiTokens())
          ? `${address}/api`
          : "disabled (set TENON_API_TOKENS or run `tenon tokens create`)",
      metrics: settings.metricsEnabled ? `${metricsAddress ?? address}/metrics` : "off (TENON_METRICS=off)",
      integrations: config.integrations.map((integration) => integration.id),
      polls: (config.polls ?? []).map((poll) => poll.id),
      connections: connectionStates,
      concurrency: settings.workerConcurrency,
    },
    "ready",
  );
}
