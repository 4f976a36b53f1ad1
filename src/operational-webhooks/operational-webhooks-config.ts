import { redactUrl } from "../connections/audit/redact.ts";
import { type Duration, durationToMs } from "../sdk/duration.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import { isSecretRef, resolveSecret, type Secret } from "../sdk/secret-from-env.ts";

/** What a subscriber can be told about. */
export const operationalEventTypes = [
  "run.dead",
  "run.failed",
  "connection.auth_failed",
  "connection.restored",
  "alert.firing",
  "alert.resolved",
  "drift.detected",
] as const;

export type OperationalEventType = (typeof operationalEventTypes)[number];

/**
 * One subscriber: a URL that receives signed Standard Webhooks about what happens in Tenon
 * (docs/operational-webhooks.md).
 */
export interface OperationalWebhookConfig {
  /** Where deliveries are POSTed. */
  url: string;
  /** `whsec_…` signing secrets (secretFromEnv): each delivery carries one signature per secret, for rotation. */
  secrets: Secret[];
  /** The event types it wants, or `"*"` for all of them. */
  events: (OperationalEventType | "*")[];
  /** A subscriber whose deliveries keep failing this long, with no success in between, is disabled. Default 5d. */
  disableAfter?: Duration;
}

/** Subscribers by name (`ops`, `audit`): each one's deliveries are durable runs of their own. */
export type OperationalWebhooksConfig = Record<string, OperationalWebhookConfig>;

export const defaultDisableAfter: Duration = "5d";

const namePattern = /^[a-z0-9][a-z0-9_-]{0,40}$/;
const subscriberKeys = ["url", "secrets", "events", "disableAfter"];

/** Throws a ConfigurationError naming what is wrong in the `operationalWebhooks` section. */
export function assertOperationalWebhooksConfig(
  value: unknown,
  origin: string,
): asserts value is OperationalWebhooksConfig {
  const at = `${origin}: operationalWebhooks`;
  if (!isRecord(value)) {
    throw new ConfigurationError(
      `${at} must be an object { <subscriber name>: { url, secrets: [secretFromEnv("NAME")], events: ["run.dead"] } }`,
    );
  }
  for (const [name, subscriber] of Object.entries(value)) assertSubscriber(name, subscriber, `${at}.${name}`);
}

function assertSubscriber(name: string, subscriber: unknown, at: string): void {
  if (!namePattern.test(name)) {
    throw new ConfigurationError(`${at}: a subscriber name is 1-41 characters of a-z, 0-9, "_" or "-"`);
  }
  if (!isRecord(subscriber)) throw new ConfigurationError(`${at} must be an object { url, secrets, events }`);
  const unknown = Object.keys(subscriber).find((key) => !subscriberKeys.includes(key));
  if (unknown) {
    throw new ConfigurationError(`${at}: unknown key "${unknown}"; allowed keys: ${subscriberKeys.join(", ")}`);
  }
  if (typeof subscriber.url !== "string" || !isHttpUrl(subscriber.url)) {
    throw new ConfigurationError(`${at}.url must be an http(s) URL, got ${JSON.stringify(subscriber.url)}`);
  }
  const { secrets } = subscriber;
  if (!Array.isArray(secrets) || secrets.length === 0 || !secrets.every(isSecret)) {
    throw new ConfigurationError(
      `${at}.secrets must be a non-empty array of secretFromEnv("NAME") (whsec_… signing secrets; two during a rotation)`,
    );
  }
  secrets.forEach((secret, index) => {
    // A reference is read when Tenon starts (resolveSigningSecrets); a value given as is is checked now.
    if (typeof secret === "string") assertSigningSecret(secret, `${at}.secrets[${index}]`);
  });
  assertEvents(subscriber.events, `${at}.events`);
  if (subscriber.disableAfter !== undefined) {
    let ms: number;
    try {
      ms = durationToMs(subscriber.disableAfter as Duration);
    } catch (error) {
      throw new ConfigurationError(`${at}.disableAfter: ${(error as Error).message}`, { cause: error });
    }
    if (ms <= 0) throw new ConfigurationError(`${at}.disableAfter must be longer than 0, e.g. "5d"`);
  }
}

function assertEvents(events: unknown, at: string): void {
  const valid = `${operationalEventTypes.join(", ")}, or "*" for all`;
  if (!Array.isArray(events) || events.length === 0) {
    throw new ConfigurationError(`${at} must be a non-empty array of event types: ${valid}`);
  }
  for (const type of events) {
    if (type === "*" || operationalEventTypes.includes(type as OperationalEventType)) continue;
    throw new ConfigurationError(`${at}: unknown event type ${JSON.stringify(type)}; valid types: ${valid}`);
  }
}

/**
 * The subscriber's signing secrets, read now (a missing variable stops the start with its name) and checked.
 * Never in an error: the variable or the position names which one is wrong.
 */
export function resolveSigningSecrets(name: string, secrets: readonly Secret[]): string[] {
  return secrets.map((secret, index) => {
    const value = resolveSecret(secret);
    const which = isSecretRef(secret) ? `${secret.variable} (${name}.secrets[${index}])` : `${name}.secrets[${index}]`;
    assertSigningSecret(value, `operationalWebhooks: ${which}`);
    return value;
  });
}

/** Standard Webhooks: `whsec_` and the base64 of 24 to 64 random bytes. */
function assertSigningSecret(value: string, at: string): void {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(value);
  const bytes = match ? Buffer.from(match[1] as string, "base64").length : 0;
  if (bytes < 24 || bytes > 64) {
    throw new ConfigurationError(
      `${at} is not a Standard Webhooks signing secret: it must be "whsec_" and the base64 of 24 to 64 random bytes; make one with \`echo "whsec_$(openssl rand -base64 32)"\``,
    );
  }
}

/** A configured subscriber, as the pump, the API and the CLI see it (its secrets stay with its delivery). */
export interface Subscriber {
  name: string;
  /** The URL without its secret query parameters. */
  shownUrl: string;
  events: readonly (OperationalEventType | "*")[];
  disableAfterMs: number;
}

/** The config's subscribers, without reading their secrets. */
export function describeSubscribers(config: OperationalWebhooksConfig): Subscriber[] {
  return Object.entries(config).map(([name, subscriber]) => ({
    name,
    shownUrl: redactUrl(subscriber.url),
    events: subscriber.events,
    disableAfterMs: disableAfterMs(subscriber),
  }));
}

/** Whether `subscriber` wants to be told about `type`. */
export function wants(
  subscriber: { events: readonly (OperationalEventType | "*")[] },
  type: OperationalEventType,
): boolean {
  return subscriber.events.includes("*") || subscriber.events.includes(type);
}

export function disableAfterMs(subscriber: Pick<OperationalWebhookConfig, "disableAfter">): number {
  return durationToMs(subscriber.disableAfter ?? defaultDisableAfter);
}

function isSecret(value: unknown): boolean {
  return (typeof value === "string" && value !== "") || isSecretRef(value);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
