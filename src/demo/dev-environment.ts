import { createServer } from "node:net";
import type { Logger } from "pino";
import { startTenonServices, type TenonServices } from "../app/tenon-services.ts";
import { assertSecretsSet } from "../config/assert-secrets-set.ts";
import type { TenonConfig } from "../config/define-config.ts";
import type { Settings } from "../config/settings.ts";
import { openVault } from "../connections/vault/open-vault.ts";
import type { Vault } from "../connections/vault/vault.ts";
import { createSandbox, type Sandbox } from "../sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../sandbox/sandbox-environment.ts";
import { builtInSystems } from "../sandbox/systems/index.ts";
import { openStorage } from "../storage/open-storage.ts";

export interface DevSandbox {
  sandbox: Sandbox;
  /** The sandbox's variables, as set in this process's environment. */
  environment: Record<string, string>;
}

export interface DevEnvironment extends DevSandbox {
  services: TenonServices;
  config: TenonConfig;
  stop(deadlineMs: number): Promise<void>;
}

/**
 * The sandbox on `sandboxPort` (any free port if it is taken), its credentials set in this process's
 * environment: a config loaded here, or by a child process started from here, reads them.
 */
export async function startDevSandbox(options: {
  sandboxPort: number;
  /** How many times faster than the providers the sandbox retries webhooks; 1 is real time. */
  webhookTimeScale: number;
}): Promise<DevSandbox> {
  const sandbox = createSandbox({ systems: builtInSystems, webhookTimeScale: options.webhookTimeScale });
  await sandbox.listen({ host: "127.0.0.1", port: await freePort("127.0.0.1", options.sandboxPort) });
  const environment = sandboxEnvironment(sandbox, Object.keys(builtInSystems));
  // The sandbox makes new credentials each time it starts, so its variables replace any left in the shell.
  Object.assign(process.env, environment);
  return { sandbox, environment };
}

/** Every sandbox system whose name is one of the config's webhook `sources` sends its webhooks to `/hooks/<name>`. */
export function sendSandboxWebhooksTo(sandbox: Sandbox, address: string, sources: Iterable<string>): void {
  for (const source of sources) {
    if (source in builtInSystems) sandbox.webhooks(source).url = `${address}/hooks/${source}`;
  }
}

/**
 * What the demo and `tenon/testing` run in one process: the dev sandbox, and Tenon on a SQLite file receiving its
 * webhooks.
 */
export async function startDevEnvironment(options: {
  /** What runs it, for errors: "tenon demo", "tenon/testing". */
  purpose: string;
  /** Called once the sandbox's variables are in `process.env`: configs read them when they are evaluated. */
  loadConfig: () => Promise<TenonConfig>;
  /** A SQLite file, or ":memory:". */
  databasePath: string;
  settings: Settings;
  logger: Logger;
  sandboxPort: number;
  webhookTimeScale: number;
  /** Default: the process's vault (TENON_MASTER_KEY, or the development key under `.tenon/`). */
  vault?: Vault;
}): Promise<DevEnvironment> {
  const { settings, logger } = options;
  const { sandbox, environment } = await startDevSandbox(options);
  try {
    const config = await options.loadConfig();
    assertSecretsSet(config, options.purpose);
    const storage = await openStorage({
      sqlitePath: options.databasePath,
      sqliteSynchronous: settings.sqliteSynchronous,
    });
    const vault = options.vault ?? openVault({ logger });
    const httpPort = await freePort(settings.httpHost, settings.httpPort);
    const services = await startTenonServices({ config, settings: { ...settings, httpPort }, storage, vault, logger });
    sendSandboxWebhooksTo(sandbox, services.address, services.webhookSources.keys());
    return {
      sandbox,
      services,
      config,
      environment,
      async stop(deadlineMs) {
        // Tenon first: the runs in flight still talk to the sandbox while they finish.
        await services.stop(deadlineMs);
        await sandbox.close();
      },
    };
  } catch (error) {
    await sandbox.close();
    throw error;
  }
}

/**
 * `port` if it is free, else (or for 0) one the system picks: a second demo or a busy CI box still
 * starts, and the port is known before anything listens on it, so it can stay the same across reloads.
 */
export async function freePort(host: string, port: number): Promise<number> {
  const listenOn = (candidate: number) =>
    new Promise<number | undefined>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(undefined));
      probe.listen(candidate, host, () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === "object" && address ? address.port : undefined));
      });
    });
  const chosen = (port === 0 ? undefined : await listenOn(port)) ?? (await listenOn(0));
  if (chosen === undefined) throw new Error(`no free port on ${host}`);
  return chosen;
}
