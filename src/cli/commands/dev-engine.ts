import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { startTenonServices, type TenonServices } from "../../app/tenon-services.ts";
import { assertSecretsSet } from "../../config/assert-secrets-set.ts";
import type { TenonConfig } from "../../config/define-config.ts";
import { loadConfig } from "../../config/load-config.ts";
import { readSettings, type Settings } from "../../config/settings.ts";
import { openVault } from "../../connections/vault/open-vault.ts";
import type { EngineMessage, SupervisorMessage } from "../../demo/dev-engine-messages.ts";
import { readEngineCounts } from "../../demo/engine-summary.ts";
import { resolveWebhookSources } from "../../ingestion/webhooks/webhook-sources.ts";
import { createLogger } from "../../observability/logger.ts";
import { ConfigurationError, toError } from "../../sdk/errors.ts";
import { openStorage } from "../../storage/open-storage.ts";

const stopDeadlineMs = 10_000;

/**
 * The engine process of `tenon dev` (hidden `tenon dev-engine`), started by its supervisor with the
 * sandbox's credentials, the database and the port in its environment. It loads and checks the config,
 * says so, and starts only when told: by then the engine it replaces has stopped. SIGTERM, or the
 * supervisor going away, stops it gracefully.
 */
export async function devEngineCommand(options: { config: string; log: string }): Promise<void> {
  const channel = process.send?.bind(process);
  if (!channel) {
    throw new ConfigurationError("`tenon dev-engine` is the engine process `tenon dev` starts; run `tenon dev`");
  }
  const send = (message: EngineMessage) =>
    new Promise<void>((resolve) => channel(message, undefined, undefined, () => resolve()));
  let services: TenonServices | undefined;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (!services) process.exit(0);
    services.stop(stopDeadlineMs).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`tenon dev: stopping the engine failed: ${toError(error).stack}`);
        process.exit(1);
      },
    );
  };
  // Ctrl-C in a terminal reaches the whole process group: the supervisor decides when this process stops.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", stop);
  process.on("disconnect", stop);

  let loaded: { config: TenonConfig; settings: Settings };
  try {
    loaded = await loadAndCheck(options.config);
  } catch (error) {
    await send({ type: "load-failed", message: describeLoadFailure(toError(error), dirname(resolve(options.config))) });
    process.exit(1);
  }
  const started = new Promise<void>((resolve) => {
    process.on("message", (message: SupervisorMessage) => {
      if (message.type === "start") resolve();
      if (message.type !== "count" || !services || stopping) return;
      // Unanswered (storage closing as it stops), the supervisor shows the last counts it had.
      readEngineCounts(services).then(
        (counts) => send({ type: "counts", counts }),
        () => {},
      );
    });
  });
  await send({ type: "loaded" });
  await started;

  const { config, settings } = loaded;
  const logger = await createLogger({
    level: settings.logLevel,
    destination: pino.destination({ dest: options.log, sync: true }),
  });
  try {
    const storage = await openStorage({
      sqlitePath: settings.sqlitePath,
      sqliteSynchronous: settings.sqliteSynchronous,
    });
    services = await startTenonServices({ config, settings, storage, vault: openVault({ logger }), logger });
  } catch (error) {
    await send({ type: "start-failed", message: toError(error).message });
    process.exit(1);
  }
  await send({ type: "ready", address: services.address, webhookSources: [...services.webhookSources.keys()] });
}

/** Everything that can be checked while the previous engine still runs: the code loads, the config and settings hold. */
async function loadAndCheck(configPath: string): Promise<{ config: TenonConfig; settings: Settings }> {
  const config = await loadConfig(configPath);
  assertSecretsSet(config, "tenon dev");
  const settings = readSettings(process.env, { worker: config.worker ?? {} });
  resolveWebhookSources(config.webhooks ?? {});
  return { config, settings };
}

/**
 * The error, and where in the project it was thrown when the message does not say: a syntax error
 * names its file and line, `x is not defined` at the top of a module does not.
 */
function describeLoadFailure(error: Error, projectDirectory: string): string {
  const message = error.message.replaceAll(`${process.cwd()}${sep}`, "");
  const thrown = error.cause instanceof Error ? error.cause : error;
  for (const frame of (thrown.stack ?? "").split("\n")) {
    const match = /^\s*at (?:.*\()?(file:\/\/[^)\s]+|\/[^)\s]+):(\d+):(\d+)\)?$/.exec(frame);
    if (!match?.[1]) continue;
    const path = match[1].startsWith("file://") ? fileURLToPath(match[1]) : match[1];
    const inProject = !relative(projectDirectory, path).startsWith("..") && !path.includes("/node_modules/");
    if (!inProject) continue;
    if (error.message.includes(path)) return message;
    return `${message} (at ${relative(process.cwd(), path)}:${match[2]}:${match[3]})`;
  }
  return message;
}
