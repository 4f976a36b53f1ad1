import type { Integration } from "../sdk/define-integration.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import { minLeaseMs } from "./settings.ts";

/** What a `tenon.config.ts` exports by default: the integrations this deployment runs. */
export interface TenonConfig {
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type live side by side
  integrations: Integration<any, any>[];
  /** Worker sizing; TENON_WORKER_CONCURRENCY and TENON_LEASE_MS override it. */
  worker?: {
    /** Runs executed at once by one process. Default 100. */
    concurrency?: number;
    /** How long a claimed run stays leased without a heartbeat. Default 30 000 ms. */
    leaseMs?: number;
  };
}

const configKeys = ["integrations", "worker"];
const workerKeys = ["concurrency", "leaseMs"];

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
  });
}

function assertWorker(worker: unknown, origin: string): void {
  if (!isRecord(worker))
    throw new ConfigurationError(`${origin}: "worker" must be an object { concurrency?, leaseMs? }`);
  rejectUnknownKeys(worker, workerKeys, `${origin}: worker`);
  const { concurrency, leaseMs } = worker;
  if (concurrency !== undefined && !(Number.isSafeInteger(concurrency) && (concurrency as number) >= 1)) {
    throw new ConfigurationError(
      `${origin}: worker.concurrency must be a whole number ≥ 1, got ${String(concurrency)}`,
    );
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
