import type { Logger } from "pino";
import { type Alerting, createAlerting } from "../alerting/alerting.ts";
import type { TenonConfig } from "../config/define-config.ts";
import type { Settings } from "../config/settings.ts";
import { type ConnectionSummary, Connections } from "../connections/connections.ts";
import type { Vault } from "../connections/vault/vault.ts";
import { DriftLearner } from "../drift/drift-learner.ts";
import { createEngine, type Engine } from "../engine/engine.ts";
import { resolveWebhookSources, type WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { createMetrics } from "../observability/metrics.ts";
import {
  createOperationalWebhooks,
  defaultSettleMs,
  type OperationalWebhooks,
} from "../operational-webhooks/operational-webhooks.ts";
import { reconcileEventSource } from "../reconciliation/reconcile-ids.ts";
import { createReconciliations } from "../reconciliation/reconciliations.ts";
import { systemClock } from "../runtime/clock.ts";
import { createServer, type TenonServer } from "../server/create-server.ts";
import { createMetricsServer, type MetricsServer } from "../server/metrics-route.ts";
import type { Storage } from "../storage/contract.ts";

export interface TenonServices {
  engine: Engine;
  server: TenonServer;
  connections: Connections;
  webhookSources: ReadonlyMap<string, WebhookSource>;
  /** Learns the shape of connection answers and webhook events, and records API drift (storage.drift). */
  drift: DriftLearner;
  /** The address the server listens on, e.g. `http://127.0.0.1:3000`. */
  address: string;
  /** Where `/metrics` is served when TENON_METRICS_PORT gives it a port of its own. */
  metricsAddress: string | undefined;
  /** Server first (every request it answered was committed), then the runs in flight, then storage, then the spans. */
  stop(deadlineMs: number): Promise<void>;
}

/**
 * Wires one Tenon process: connections (vault, OAuth), the engine (worker, schedules, polls) and the
 * HTTP server (webhooks, API, OAuth callback), and starts them. `tenon start`, `tenon dev` and the
 * demo all run this; if starting fails, what was started is stopped and storage closed.
 */
export async function startTenonServices(options: {
  config: TenonConfig;
  settings: Settings;
  storage: Storage;
  vault: Vault;
  logger: Logger;
}): Promise<TenonServices> {
  const { config, settings, storage, vault, logger } = options;
  // First, so that every span of this process records; loaded only when traces are exported.
  const tracing = settings.tracing
    ? (await import("../observability/tracing-sdk.ts")).startTracingSdk(settings.tracing)
    : undefined;
  const webhookSources = resolveWebhookSources(config.webhooks ?? {});
  const polls = config.polls ?? [];
  let address: string | undefined;
  const metrics = createMetrics({ enabled: settings.metricsEnabled, processMetrics: true });
  // Alert notifications and operational webhooks are events of the engine's (sent once it runs): each delivery is a run.
  let sendEvent: Engine["send"] | undefined;
  const sendOnceStarted: Engine["send"] = (event, sendOptions) => {
    if (!sendEvent) throw new Error("deliveries are sent only once the engine has started");
    return sendEvent(event, sendOptions);
  };
  const subscribers = config.operationalWebhooks ?? {};
  const operationalWebhooks: OperationalWebhooks | undefined =
    Object.keys(subscribers).length > 0
      ? createOperationalWebhooks({
          config: subscribers,
          storage,
          clock: systemClock,
          logger,
          publicUrl: config.alerts?.publicUrl ?? settings.publicUrl,
          send: sendOnceStarted,
          // Drift incidents are written once per persistence period, stamped with when they were seen.
          settleMs: Math.max(defaultSettleMs, 3 * settings.driftPersistMs),
        })
      : undefined;
  // With subscribers but no alert channel, the rules still run: their alerts go to the subscribers that want them.
  const alertsConfig = config.alerts ?? (operationalWebhooks ? { channels: {} } : undefined);
  const alerting: Alerting | undefined = alertsConfig
    ? createAlerting({
        config: alertsConfig,
        storage,
        clock: systemClock,
        logger,
        publicUrl: settings.publicUrl,
        connectionIds: Object.keys(config.connections ?? {}),
        renewedConnectionIds: new Set(
          Object.entries(config.connections ?? {}).flatMap(([id, connection]) =>
            connection.auth?.type === "oauth2" ? [id] : [],
          ),
        ),
        pollIds: polls.map((poll) => poll.id),
        integrations: config.integrations,
        send: (event) => sendOnceStarted(event),
        ...(operationalWebhooks
          ? {
              onNotification: operationalWebhooks.tellAlert,
              webhookSubscribers: operationalWebhooks.subscribers.map((subscriber) => subscriber.name),
            }
          : {}),
      })
    : undefined;
  // Reconciliation runs and repairs are runs of built-in integrations; their repairs and schedule ticks send events.
  const reconciliations = createReconciliations({
    reconciliations: config.reconciliations ?? [],
    storage,
    clock: systemClock,
    send: (event) => {
      if (!sendEvent) throw new Error("reconciliation events are sent only once the engine has started");
      return sendEvent(event);
    },
  });
  const drift = new DriftLearner({
    store: storage.drift,
    clock: systemClock,
    logger,
    persistIntervalMs: settings.driftPersistMs,
  });
  const connections = new Connections({
    metrics,
    storage,
    vault,
    configs: { ...config.connections, ...alerting?.connections, ...operationalWebhooks?.connections },
    logger,
    observeResponse: drift.observeResponse,
    // Read when an authorisation starts, so without TENON_PUBLIC_URL the redirect URI is the address
    // actually listened on (port 0 included); no request can arrive before it is known.
    get publicUrl() {
      return settings.publicUrl ?? (address === undefined ? undefined : reachableFromBrowser(address));
    },
  });
  const engine = createEngine({
    storage,
    integrations: [
      ...config.integrations,
      ...(alerting?.integrations ?? []),
      ...(operationalWebhooks?.integrations ?? []),
      ...reconciliations.integrations,
    ],
    polls,
    connections,
    worker: { concurrency: settings.workerConcurrency, leaseMs: settings.leaseMs, maxCrashes: settings.maxCrashes },
    retention: {
      retentionMs: settings.retentionMs,
      deadRetentionMs: settings.deadRetentionMs,
      auditRetentionMs: settings.auditRetentionMs,
    },
    logger,
    metrics,
  });
  const ownMetricsPort = settings.metricsEnabled && settings.metricsPort !== undefined;
  const metricsServer: MetricsServer | undefined = ownMetricsPort
    ? createMetricsServer({ metrics, token: settings.metricsToken, logger })
    : undefined;
  let metricsAddress: string | undefined;
  const server = createServer({
    engine,
    logger,
    webhookSources,
    apiTokens: settings.apiTokens,
    bodyLimit: settings.bodyLimit,
    httpLimits: settings.httpLimits,
    publicUrl: settings.publicUrl,
    connections,
    // Reconciliation runs and repairs start from Tenon's own events only, never from an API caller's.
    reservedSources: [...polls.map((poll) => poll.id), reconcileEventSource],
    integrations: config.integrations,
    polls,
    metricsRoute: ownMetricsPort ? false : { token: settings.metricsToken },
    observeEvent: drift.observeEvent,
    operationalWebhooks: operationalWebhooks?.subscribers ?? [],
  });
  try {
    await engine.start();
    sendEvent = (event, sendOptions) => engine.send(event, sendOptions);
    // After the engine's start, which applies the migrations its tables come with.
    await drift.start();
    await reconciliations.start();
    address = await server.listen({ host: settings.httpHost, port: settings.httpPort });
    metricsAddress = await metricsServer?.listen({ host: settings.httpHost, port: settings.metricsPort ?? 0 });
    alerting?.evaluator.start();
    operationalWebhooks?.pump.start();
  } catch (error) {
    await operationalWebhooks?.pump.stop().catch(() => {});
    await alerting?.evaluator.stop().catch(() => {});
    alerting?.close();
    await server.close().catch(() => {});
    await metricsServer?.close().catch(() => {});
    await engine.stop({ deadlineMs: 0 }).catch(() => {});
    await drift.stop().catch(() => {});
    await storage.close();
    await tracing?.shutdown().catch(() => {});
    throw error;
  }
  return {
    engine,
    server,
    connections,
    webhookSources,
    drift,
    address,
    metricsAddress,
    async stop(deadlineMs) {
      await operationalWebhooks?.pump.stop();
      await alerting?.evaluator.stop();
      await server.close();
      await metricsServer?.close();
      // The engine also flushes the connections' audit trail.
      await engine.stop({ deadlineMs });
      alerting?.close();
      await drift.stop();
      await storage.close();
      // The spans of the last runs are still in the batch: exported now, or lost with the process.
      await tracing?.shutdown().catch((error: Error) => {
        logger.warn({ err: error.message }, "exporting the last spans failed; check OTEL_EXPORTER_OTLP_ENDPOINT");
      });
    },
  };
}

/**
 * A wildcard listen address is no place to send a browser; the loopback one on the same port is.
 * Fastify already reports 0.0.0.0 as 127.0.0.1, but the IPv6 wildcard as [::].
 */
function reachableFromBrowser(address: string): string {
  return address.replace("://[::]:", "://[::1]:");
}

/** "ok", "auth_failed: <reason>", "ok, circuit open": one connection's state in a word or three. */
export function describeConnectionState(summary: ConnectionSummary): string {
  if (summary.status === "auth_failed") return `auth_failed: ${summary.statusReason ?? "credentials rejected"}`;
  return summary.circuit.status === "closed" ? summary.status : `${summary.status}, circuit ${summary.circuit.status}`;
}
