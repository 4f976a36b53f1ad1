import { createServer } from "node:net";
import type { Logger } from "pino";
import { startTenonServices, type TenonServices } from "../app/tenon-services.ts";
import { assertSecretsSet } from "../config/assert-secrets-set.ts";
import type { TenonConfig } from "../config/define-config.ts";
import { loadConfig } from "../config/load-config.ts";
import type { Settings } from "../config/settings.ts";
import { openVault } from "../connections/vault/open-vault.ts";
import { createSandbox, type Sandbox } from "../sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../sandbox/sandbox-environment.ts";
import { builtInSystems } from "../sandbox/systems/index.ts";
import { openStorage } from "../storage/open-storage.ts";

export interface DevEnvironment {
  sandbox: Sandbox;
  services: TenonServices;
  config: TenonConfig;
  /** The sandbox's variables, as set in this process's environment. */
  environment: Record<string, string>;
  stop(deadlineMs: number): Promise<void>;
}

/**
 * What `tenon dev` and the demo run: the sandbox on `sandboxPort` (any free port if it is taken), its
 * credentials in the environment the config reads, Tenon on a SQLite file, and every sandbox system
 * whose name is a webhook source of the config sending its webhooks to `/hooks/<name>`.
 */
export async function startDevEnvironment(options: {
  configPath: string;
  databasePath: string;
  settings: Settings;
  logger: Logger;
  sandboxPort: number;
  /** How many times faster than the providers the sandbox retries webhooks; 1 is real time. */
  webhookTimeScale: number;
}): Promise<DevEnvironment> {
  const { settings, logger } = options;
  const sandbox = createSandbox({ systems: builtInSystems, webhookTimeScale: options.webhookTimeScale });
  await sandbox.listen({ host: "127.0.0.1", port: await portOrAnyFree("127.0.0.1", options.sandboxPort) });
  const environment = sandboxEnvironment(sandbox, Object.keys(builtInSystems));
  // The sandbox makes new credentials each time it starts, so its variables replace any left in the shell.
  Object.assign(process.env, environment);
  try {
    const config = await loadConfig(options.configPath);
    assertSecretsSet(config, "tenon dev");
    const storage = await openStorage({
      sqlitePath: options.databasePath,
      sqliteSynchronous: settings.sqliteSynchronous,
    });
    const vault = openVault({ logger });
    const httpPort = await portOrAnyFree(settings.httpHost, settings.httpPort);
    const services = await startTenonServices({ config, settings: { ...settings, httpPort }, storage, vault, logger });
    for (const source of services.webhookSources.keys()) {
      if (source in builtInSystems) sandbox.webhooks(source).url = `${services.address}/hooks/${source}`;
    }
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

/** `port` if it is free, else 0 (any free port): a second demo or a busy CI box still starts. */
async function portOrAnyFree(host: string, port: number): Promise<number> {
  if (port === 0) return 0;
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once("error", () => resolve(0));
    probe.listen(port, host, () => probe.close(() => resolve(port)));
  });
}
