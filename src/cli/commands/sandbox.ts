import { resolve } from "node:path";
import { readSandboxWebhookTimeScale } from "../../config/settings.ts";
import { createSandbox, type Sandbox } from "../../sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../sandbox/sandbox-environment.ts";
import { builtInSystems } from "../../sandbox/systems/index.ts";
import { dotenvValue, writeDotenvFile } from "../sandbox/env-file.ts";
import { onShutdownSignal } from "../shutdown.ts";

export interface SandboxCommandOptions {
  port: number;
  host: string;
  /** Each system's webhooks go to `<webhooks>/<system>`. */
  webhooks?: string;
  /** `--webhook-time-scale`; else TENON_SANDBOX_WEBHOOK_TIME_SCALE; else 1 (the providers' real schedules). */
  webhookTimeScale?: number;
  /**
   * Where to write the environment a config reads, in dotenv form. Not `--env-file`: Node 20 and 22
   * take that flag for themselves even after the script's name, and exit when the file does not exist
   * yet (https://github.com/nodejs/node/issues/54232).
   */
  writeEnvFile?: string;
  /** One JSON object on stdout instead of the banner, for scripts. */
  json?: boolean;
}

/**
 * `tenon sandbox`: the simulated systems alone, for integrations run elsewhere (`tenon start` with a
 * config that reads the printed variables). Webhooks go where `--webhooks` says: `<url>/<system>`.
 */
export async function sandboxCommand(options: SandboxCommandOptions): Promise<void> {
  const names = Object.keys(builtInSystems);
  const webhookBase = options.webhooks?.replace(/\/+$/, "");
  const webhookTimeScale = options.webhookTimeScale ?? readSandboxWebhookTimeScale() ?? 1;
  const sandbox = createSandbox({
    systems: builtInSystems,
    webhookTimeScale,
    ...(webhookBase ? { webhookUrls: Object.fromEntries(names.map((name) => [name, `${webhookBase}/${name}`])) } : {}),
  });
  await sandbox.listen({ host: options.host, port: options.port });
  onShutdownSignal(() => sandbox.close());
  const environment = sandboxEnvironment(sandbox, names);
  const envFile = options.writeEnvFile === undefined ? undefined : resolve(options.writeEnvFile);
  try {
    // Written before anything is printed: a script that waits for the output finds the file complete.
    if (envFile) writeDotenvFile(envFile, environment);
  } catch (error) {
    await sandbox.close();
    throw error;
  }
  const description = { url: sandbox.url, webhookTimeScale, envFile: envFile ?? null, ...systemsOf(sandbox, names) };
  console.log(
    options.json ? JSON.stringify({ ...description, environment }) : banner(description, environment, webhookBase),
  );
}

function systemsOf(sandbox: Sandbox, names: string[]) {
  const systems = names.map((name) => {
    const control = `${sandbox.url}/_sandbox/${name}`;
    const system = {
      baseUrl: sandbox.baseUrl(name),
      stateUrl: `${control}/state`,
      faultsUrl: `${control}/faults`,
      webhookUrl: sandbox.webhooks(name).url ?? null,
      /** Servers of the system's own beside the HTTP API (the mail system's SMTP). */
      listenerUrls: (sandbox.system(name).listeners ?? []).flatMap((listener) => listener.url() ?? []),
    };
    return [name, system] as const;
  });
  return { systems: Object.fromEntries(systems) };
}

function banner(
  description: { url: string; webhookTimeScale: number; envFile: string | null } & ReturnType<typeof systemsOf>,
  environment: Record<string, string>,
  webhookBase: string | undefined,
): string {
  const { url, webhookTimeScale, envFile, systems } = description;
  return [
    `Tenon sandbox at ${url} (Ctrl-C to stop). Credentials are new each start.`,
    ...Object.entries(systems).map(
      ([name, system]) =>
        `  ${name.padEnd(11)} ${[system.baseUrl, ...system.listenerUrls].join("  ")}   state: ${system.stateUrl}`,
    ),
    "",
    "Faults: POST /_sandbox/<system>/faults with any of",
    '  {"latencyMs":200, "errorRate":0.2, "errorTiming":"after", "rateLimitRate":0.1, "retryAfterSeconds":2,',
    '   "outageUntil":"2026-01-01T12:00:30Z", "schemaChange":{"field":"email","action":"rename","to":"email_address"},',
    '   "revokeCredentials":true, "restoreCredentials":true}   (null clears a field; DELETE clears all)',
    webhookBase
      ? `Webhooks go to ${webhookBase}/<system>; change one with PUT /_sandbox/<system>/webhooks {"url": …}`
      : "Webhooks wait for a target: start with --webhooks http://127.0.0.1:3000/hooks, or PUT /_sandbox/<system>/webhooks",
    `  retried on each provider's schedule${webhookTimeScale === 1 ? "" : `, ${webhookTimeScale} times faster`}; GET /_sandbox/<system>/webhooks lists them, POST …/webhooks/<id>/redeliver resends one`,
    "",
    envFile
      ? `For your config: the variables are in ${envFile} (e.g. \`node --env-file ${envFile} bin/tenon.js start\`), or \`eval\` these:`
      : "For your config (e.g. `eval` these in the shell that runs `tenon start`):",
    ...Object.entries(environment).map(([name, value]) => `export ${name}=${dotenvValue(name, value)}`),
  ].join("\n");
}
