import { ConfigurationError } from "../sdk/errors.ts";
import { isMissingSecretError, isSecretRef, type Secret } from "../sdk/secret-from-env.ts";
import type { TenonConfig } from "./define-config.ts";

/**
 * Reads every secret the config takes from the environment, and fails naming each variable that is not
 * set and where the config uses it. Only the commands that serve traffic call it (`tenon start`, `tenon
 * dev`): they need every secret, and had better say so at start-up than at the first webhook. The other
 * commands load the config without it, and a secret is read only when it is used.
 */
export function assertSecretsSet(config: TenonConfig, command: string): void {
  const missing = new Map<string, string[]>();
  for (const { secret, usedBy } of secretsOf(config)) {
    if (!isSecretRef(secret)) continue;
    try {
      secret.resolve();
    } catch (error) {
      if (!isMissingSecretError(error)) throw error;
      missing.set(secret.variable, [...(missing.get(secret.variable) ?? []), usedBy]);
    }
  }
  if (missing.size === 0) return;
  const list = [...missing].map(([variable, usedBy]) => `${variable} (${usedBy.join(", ")})`).join(", ");
  throw new ConfigurationError(
    `${command} needs every secret the config reads from the environment, and ${missing.size === 1 ? "this variable is" : "these variables are"} not set: ${list}. Set ${missing.size === 1 ? "it" : "them"} (in the environment file of the service, for instance) and start again`,
  );
}

function* secretsOf(config: TenonConfig): Generator<{ secret: Secret; usedBy: string }> {
  for (const [id, source] of Object.entries(config.webhooks ?? {})) {
    for (const [index, secret] of (source.secrets ?? []).entries()) {
      yield { secret, usedBy: `webhooks.${id}.secrets[${index}]` };
    }
  }
  for (const [name, subscriber] of Object.entries(config.operationalWebhooks ?? {})) {
    for (const [index, secret] of subscriber.secrets.entries()) {
      yield { secret, usedBy: `operationalWebhooks.${name}.secrets[${index}]` };
    }
  }
  for (const [id, connection] of Object.entries(config.connections ?? {})) {
    for (const [field, secret] of Object.entries(connection.credentials ?? {})) {
      yield { secret, usedBy: `connections.${id}.credentials.${field}` };
    }
  }
}
