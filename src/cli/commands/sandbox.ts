import { createSandbox } from "../../sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../sandbox/sandbox-environment.ts";
import { builtInSystems } from "../../sandbox/systems/index.ts";
import { onShutdownSignal } from "../shutdown.ts";

/**
 * `tenon sandbox`: the simulated systems alone, for integrations run elsewhere (`tenon start` with a
 * config that reads the printed variables). Webhooks go where `--webhooks` says: `<url>/<system>`.
 */
export async function sandboxCommand(options: { port: number; host: string; webhooks?: string }): Promise<void> {
  const names = Object.keys(builtInSystems);
  const webhookBase = options.webhooks?.replace(/\/+$/, "");
  const sandbox = createSandbox({
    systems: builtInSystems,
    ...(webhookBase ? { webhookUrls: Object.fromEntries(names.map((name) => [name, `${webhookBase}/${name}`])) } : {}),
  });
  await sandbox.listen({ host: options.host, port: options.port });
  onShutdownSignal(() => sandbox.close());
  const environment = sandboxEnvironment(sandbox, names);
  console.log(
    [
      `Tenon sandbox at ${sandbox.url} (Ctrl-C to stop). Credentials are new each start.`,
      ...names.map(
        (name) => `  ${name.padEnd(11)} ${sandbox.baseUrl(name)}   state: ${sandbox.url}/_sandbox/${name}/state`,
      ),
      "",
      "Faults: POST /_sandbox/<system>/faults with any of",
      '  {"latencyMs":200, "errorRate":0.2, "errorTiming":"after", "rateLimitRate":0.1, "retryAfterSeconds":2,',
      '   "outageUntil":"2026-01-01T12:00:30Z", "schemaChange":{"field":"email","action":"rename","to":"email_address"},',
      '   "revokeCredentials":true, "restoreCredentials":true}   (null clears a field; DELETE clears all)',
      webhookBase
        ? `Webhooks go to ${webhookBase}/<system>; change one with PUT /_sandbox/<system>/webhooks {"url": …}`
        : "Webhooks wait for a target: start with --webhooks http://127.0.0.1:3000/hooks, or PUT /_sandbox/<system>/webhooks",
      "",
      "For your config (e.g. `eval` these in the shell that runs `tenon start`):",
      ...Object.entries(environment).map(([name, value]) => `export ${name}=${value}`),
    ].join("\n"),
  );
}
