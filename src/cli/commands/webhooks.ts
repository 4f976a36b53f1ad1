import { loadConfig } from "../../config/load-config.ts";
import { readSettings } from "../../config/settings.ts";
import { describeSubscribers, type Subscriber } from "../../operational-webhooks/operational-webhooks-config.ts";
import { listSubscribers } from "../../operational-webhooks/subscriber-json.ts";
import { ConfigurationError } from "../../sdk/errors.ts";
import { recordCliAction } from "../cli-operator-log.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { withMigratedStorage } from "../storage-from-settings.ts";

/**
 * `tenon webhooks [--json]`: each operational webhook subscriber of the config, its URL (secret query parameters
 * removed), its events, and its state: active, failing (deliveries given up since its last success) or disabled.
 */
export async function listWebhooksCommand(options: { config: string; json?: boolean }): Promise<void> {
  const subscribers = await configuredSubscribers(options.config);
  await withMigratedStorage(async (storage) => {
    const webhooks = await listSubscribers(subscribers, storage.operationalWebhooks);
    if (options.json) {
      console.log(JSON.stringify({ webhooks }, null, 2));
      return;
    }
    if (webhooks.length === 0) {
      console.log(
        `no operational webhooks are configured; declare them under "operationalWebhooks" in ${options.config}`,
      );
      return;
    }
    const now = Date.now();
    const when = (iso: string | null) => (iso === null ? "-" : formatLocalTimeWithAge(Date.parse(iso), now));
    const rows = webhooks.map((webhook) => [
      webhook.name,
      webhook.url,
      webhook.events.join(", "),
      webhook.state + (webhook.skipped > 0 ? ` (${webhook.skipped} skipped)` : ""),
      when(webhook.lastSuccessAt),
      when(webhook.failingSince),
      when(webhook.disabledAt),
    ]);
    console.log(formatTable(["NAME", "URL", "EVENTS", "STATE", "LAST SUCCESS", "FAILING SINCE", "DISABLED AT"], rows));
  }, readSettings());
}

/** `tenon webhooks enable <name>`: a disabled subscriber gets deliveries again, its failures forgotten. */
export async function enableWebhookCommand(name: string, options: { config: string }): Promise<void> {
  const subscribers = await configuredSubscribers(options.config);
  if (!subscribers.some((subscriber) => subscriber.name === name)) {
    const known = subscribers.map((subscriber) => subscriber.name).join(", ") || "none";
    throw new ConfigurationError(`no operational webhook "${name}" in ${options.config}; configured: ${known}`);
  }
  await withMigratedStorage(async (storage) => {
    const before = await storage.operationalWebhooks.getSubscriberHealth(name);
    await storage.operationalWebhooks.enableSubscriber(name, Date.now());
    const wasDisabled = before?.disabledAt != null;
    await recordCliAction(storage, {
      action: "tenon webhooks enable",
      target: name,
      detail: wasDisabled
        ? `disabled since ${new Date(before.disabledAt as number).toISOString()}`
        : "was not disabled",
    });
    console.log(
      wasDisabled
        ? `operational webhook ${name} is enabled: what happens from now on is delivered to it again`
        : `operational webhook ${name} was not disabled; its delivery failures are forgotten`,
    );
  }, readSettings());
}

async function configuredSubscribers(configPath: string): Promise<Subscriber[]> {
  const config = await loadConfig(configPath);
  return describeSubscribers(config.operationalWebhooks ?? {});
}
