import { ConfigurationError } from "../../sdk/errors.ts";
import { isSecretRef, resolveSecret, type Secret } from "../../sdk/secret-from-env.ts";
import { builtInProviders, type GenericHmacConfig, genericHmacProvider } from "./providers/index.ts";
import { defaultToleranceSec, type WebhookProvider } from "./webhook-provider.ts";

export type BuiltInProviderName =
  | "stripe"
  | "shopify"
  | "github"
  | "slack"
  | "twilio"
  | "hubspot"
  | "standard-webhooks";

interface SourceBase {
  /**
   * Every active signing secret. During a rotation list the new one and the old one: a request signed with
   * either is accepted. Read them from the environment (`secretFromEnv`), never write them in source.
   */
  secrets: Secret[];
  /** Allowed clock difference for timestamped signatures, in seconds. Default 300. */
  toleranceSec?: number;
}

/** A webhook source: `POST /hooks/<name>` verified by a provider's scheme. */
export type WebhookSourceConfig =
  | (SourceBase & { provider: BuiltInProviderName })
  | (SourceBase & { provider: "generic-hmac" } & GenericHmacConfig);

export interface WebhookSource {
  id: string;
  provider: WebhookProvider;
  /**
   * The signing secrets' values, read from the environment at the first request and kept; throws
   * MissingSecretError (naming the variable) while one is unset, and tries again at the next request.
   */
  resolveSecrets(): readonly string[];
  toleranceSec: number;
}

const sourceIdPattern = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** Checks the `webhooks` section of the config and builds each source's verifier. */
export function resolveWebhookSources(config: Record<string, WebhookSourceConfig>): Map<string, WebhookSource> {
  const sources = new Map<string, WebhookSource>();
  for (const [id, source] of Object.entries(config)) {
    const where = `webhooks.${id}`;
    if (!sourceIdPattern.test(id)) {
      throw new ConfigurationError(
        `${where}: a source name is its URL path (/hooks/<name>): 1-100 characters of a-z, 0-9, ".", "_" or "-"`,
      );
    }
    if (typeof source !== "object" || source === null) {
      throw new ConfigurationError(`${where} must be an object { provider, secrets }`);
    }
    const secrets = checkSecrets(source.secrets, where);
    let resolved: readonly string[] | undefined;
    sources.set(id, {
      id,
      provider: providerOf(source, where),
      resolveSecrets: () => {
        resolved ??= secrets.map(resolveSecret);
        return resolved;
      },
      toleranceSec: checkTolerance(source.toleranceSec, where),
    });
  }
  return sources;
}

function providerOf(source: WebhookSourceConfig, where: string): WebhookProvider {
  if (source.provider === "generic-hmac") {
    const { provider: _, secrets: __, toleranceSec: ___, ...hmacConfig } = source;
    try {
      return genericHmacProvider({ name: where, ...hmacConfig });
    } catch (error) {
      throw new ConfigurationError(`${where}: ${(error as Error).message}`);
    }
  }
  const provider = builtInProviders[source.provider];
  if (!provider) {
    const known = [...Object.keys(builtInProviders), "generic-hmac"].join(", ");
    throw new ConfigurationError(`${where}: unknown provider "${String(source.provider)}"; known: ${known}`);
  }
  return provider;
}

function checkSecrets(secrets: unknown, where: string): Secret[] {
  const valid =
    Array.isArray(secrets) &&
    secrets.length > 0 &&
    secrets.every((s) => (typeof s === "string" && s.length > 0) || isSecretRef(s));
  if (!valid) {
    // The message never echoes the values: they are secrets.
    throw new ConfigurationError(
      `${where}.secrets must be a non-empty array of secretFromEnv("NAME") or non-empty strings (the signing secrets; during a rotation, both the new and the old one)`,
    );
  }
  return [...(secrets as Secret[])];
}

function checkTolerance(toleranceSec: unknown, where: string): number {
  if (toleranceSec === undefined) return defaultToleranceSec;
  if (typeof toleranceSec !== "number" || !Number.isInteger(toleranceSec) || toleranceSec < 1) {
    throw new ConfigurationError(`${where}.toleranceSec must be a whole number of seconds ≥ 1`);
  }
  return toleranceSec;
}
