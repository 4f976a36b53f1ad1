import { type AlertsConfig, assertAlertsConfig } from "../alerting/alert-config.ts";
import type { ConnectionConfig } from "../connections/connection-config.ts";
import { assertConnectionConfigs } from "../connections/validate-connection-config.ts";
import type { WebhookSourceConfig } from "../ingestion/webhooks/webhook-sources.ts";
import {
  assertOperationalWebhooksConfig,
  type OperationalWebhooksConfig,
} from "../operational-webhooks/operational-webhooks-config.ts";
import type { Integration } from "../sdk/define-integration.ts";
import type { Poll } from "../sdk/define-poll.ts";
import type { Reconciliation } from "../sdk/define-reconciliation.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import { assertMadeByThisCopy } from "../sdk/tenon-copy.ts";
import { minLeaseMs } from "./settings.ts";

/** What a `tenon.config.ts` exports by default: the integrations this deployment runs. */
export interface TenonConfig {
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type live side by side
  integrations: Integration<any, any>[];
  /** Webhook sources by name: each is served at `POST /hooks/<name>` and verified by its provider's scheme. */
  webhooks?: Record<string, WebhookSourceConfig>;
  /** Poll sources (definePoll) for systems without webhooks. */
  // biome-ignore lint/suspicious/noExplicitAny: polls of any item type live side by side
  polls?: Poll<any>[];
  /** The external systems runs call, by name (`crm`, `accounting`): reached in a run with `connection(name)`. */
  connections?: Record<string, ConnectionConfig>;
  /**
   * Alert channels (Slack, email, PagerDuty, a signed webhook) and the rules' settings: with a channel, the
   * built-in rules are on (docs/alerting.md).
   */
  alerts?: AlertsConfig;
  /**
   * Subscribers, by name, that receive signed Standard Webhooks about what happens in Tenon (runs dead or
   * failed, connections failing and restored, alerts, API drift): docs/operational-webhooks.md.
   */
  operationalWebhooks?: OperationalWebhooksConfig;
  /** Reconciliations (defineReconciliation): two systems' records compared by key, on a schedule or on demand. */
  // biome-ignore lint/suspicious/noExplicitAny: reconciliations of any record types live side by side
  reconciliations?: Reconciliation<any, any>[];
  /** Worker sizing; TENON_WORKER_CONCURRENCY, TENON_LEASE_MS and TENON_MAX_CRASHES override it. */
  worker?: {
    /** Runs executed at once by one process. Default 100. */
    concurrency?: number;
    /** How long a claimed run stays leased without a heartbeat. Default 30 000 ms. */
    leaseMs?: number;
    /**
     * Interruptions of a run's worker in a row without progress before the run is a suspect, run alone; if
     * its process dies that many times again while it runs alone, it ends dead as the cause. Default 5.
     */
    maxCrashes?: number;
  };
}

const configKeys = [
  "integrations",
  "webhooks",
  "polls",
  "connections",
  "alerts",
  "operationalWebhooks",
  "reconciliations",
  "worker",
];
const workerKeys = ["concurrency", "leaseMs", "maxCrashes"];

/**
 * Declares a deployment's configuration, for `export default defineConfig({ … })`
 * in `tenon.config.ts`. Checked here so a mistake fails when the file loads.
 */
export function defineConfig(config: TenonConfig): TenonConfig {
  assertConfig(config);
  return config;
}

/** Throws a ConfigurationError saying what is wrong with `config`; `origin` names where it came from. */
export function assertConfig(config: unknown, origin = "defineConfig"): asserts config is TenonConfig {
  if (!isRecord(config))
    throw new ConfigurationError(`${origin}: the config must be an object { integrations: [...] }`);
  rejectUnknownKeys(config, configKeys, origin);
  assertIntegrations(config.integrations, origin);
  if (config.worker !== undefined) assertWorker(config.worker, origin);
  if (config.webhooks !== undefined && !isRecord(config.webhooks)) {
    throw new ConfigurationError(`${origin}: "webhooks" must be an object { <source name>: { provider, secrets } }`);
  }
  if (config.polls !== undefined) assertPolls(config.polls, origin);
  if (config.connections !== undefined) assertConnections(config.connections, origin);
  if (config.alerts !== undefined) assertAlertsConfig(config.alerts, origin);
  if (config.operationalWebhooks !== undefined) assertOperationalWebhooksConfig(config.operationalWebhooks, origin);
  if (config.reconciliations !== undefined) assertReconciliations(config.reconciliations, origin);
}

function assertReconciliations(reconciliations: unknown, origin: string): void {
  if (!Array.isArray(reconciliations)) {
    throw new ConfigurationError(`${origin}: "reconciliations" must be an array of defineReconciliation(...) results`);
  }
  const ids = new Set<string>();
  reconciliations.forEach((reconciliation, index) => {
    const looksDefined =
      isRecord(reconciliation) &&
      typeof reconciliation.id === "string" &&
      typeof reconciliation.mode === "string" &&
      isRecord(reconciliation.match);
    if (!looksDefined) {
      throw new ConfigurationError(
        `${origin}: reconciliations[${index}] is not a reconciliation (got ${describe(reconciliation)}); create it with defineReconciliation({ id, left, right, match })`,
      );
    }
    const id = reconciliation.id as string;
    if (ids.has(id))
      throw new ConfigurationError(`${origin}: two reconciliations have the id "${id}"; ids must be unique`);
    ids.add(id);
  });
}

function assertConnections(connections: unknown, origin: string): void {
  if (!isRecord(connections)) {
    throw new ConfigurationError(`${origin}: "connections" must be an object { <connection name>: { baseUrl, auth } }`);
  }
  try {
    assertConnectionConfigs(connections as Record<string, ConnectionConfig>);
  } catch (error) {
    if (error instanceof ConfigurationError)
      throw new ConfigurationError(`${origin}: ${error.message}`, { cause: error });
    throw error;
  }
}

function assertPolls(polls: unknown, origin: string): void {
  if (!Array.isArray(polls))
    throw new ConfigurationError(`${origin}: "polls" must be an array of definePoll(...) results`);
  polls.forEach((poll, index) => {
    if (!isRecord(poll) || typeof poll.id !== "string" || typeof poll.fetch !== "function" || !("everyMs" in poll)) {
      throw new ConfigurationError(
        `${origin}: polls[${index}] is not a poll source (got ${describe(poll)}); create it with definePoll({ id, every, eventType, itemId, fetch })`,
      );
    }
  });
}

function assertIntegrations(integrations: unknown, origin: string): void {
  if (!Array.isArray(integrations)) {
    throw new ConfigurationError(`${origin}: "integrations" must be an array of defineIntegration(...) results`);
  }
  integrations.forEach((integration, index) => {
    const looksDefined =
      isRecord(integration) &&
      typeof integration.id === "string" &&
      isRecord(integration.trigger) &&
      typeof integration.run === "function";
    if (!looksDefined) {
      throw new ConfigurationError(
        `${origin}: integrations[${index}] is not an integration (got ${describe(integration)}); create it with defineIntegration({ id, trigger, run })`,
      );
    }
    assertMadeByThisCopy(integration as { id: string }, origin);
  });
}

function assertWorker(worker: unknown, origin: string): void {
  if (!isRecord(worker))
    throw new ConfigurationError(`${origin}: "worker" must be an object { concurrency?, leaseMs?, maxCrashes? }`);
  rejectUnknownKeys(worker, workerKeys, `${origin}: worker`);
  const { concurrency, leaseMs, maxCrashes } = worker;
  for (const [name, value] of Object.entries({ concurrency, maxCrashes })) {
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 1)) {
      throw new ConfigurationError(`${origin}: worker.${name} must be a whole number ≥ 1, got ${String(value)}`);
    }
  }
  if (leaseMs !== undefined && !(Number.isSafeInteger(leaseMs) && (leaseMs as number) >= minLeaseMs)) {
    throw new ConfigurationError(
      `${origin}: worker.leaseMs must be a whole number of milliseconds ≥ ${minLeaseMs}, got ${String(leaseMs)}`,
    );
  }
}

function rejectUnknownKeys(value: Record<string, unknown>, allowed: string[], where: string): void {
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new ConfigurationError(`${where}: unknown key "${unknown[0]}"; allowed keys: ${allowed.join(", ")}`);
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return Array.isArray(value) ? "an array" : `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
