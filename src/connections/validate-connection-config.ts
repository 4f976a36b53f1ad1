import { durationToMs } from "../sdk/duration.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import { isSecretRef } from "../sdk/secret-from-env.ts";
import type { ConnectionConfig } from "./connection-config.ts";
import { parseRateLimit } from "./http/rate-limit-policy.ts";

const namePattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const authTypes = ["none", "apiKey", "bearer", "basic", "oauth2", "custom"];

/** Checks the `connections` of a config, so a mistake fails at start, not at the first request. */
export function assertConnectionConfigs(configs: Record<string, ConnectionConfig>): void {
  for (const [name, config] of Object.entries(configs)) {
    const at = `connection "${name}"`;
    if (!namePattern.test(name)) {
      throw new ConfigurationError(`${at}: names are 1-63 characters of a-z, 0-9, "_" and "-"`);
    }
    if (typeof config !== "object" || config === null) throw new ConfigurationError(`${at} must be an object`);
    assertUrl(`${at}: baseUrl`, config.baseUrl);
    assertAuth(at, config);
    if (config.rateLimit) parseRateLimit(config.rateLimit);
    if (config.circuit) {
      const threshold = config.circuit.failureThreshold ?? 5;
      if (!Number.isInteger(threshold) || threshold < 1) {
        throw new ConfigurationError(`${at}: circuit.failureThreshold must be an integer ≥ 1`);
      }
      durationToMs(config.circuit.cooldown ?? "30s");
    }
    for (const value of Object.values(config.timeouts ?? {})) if (value !== undefined) durationToMs(value);
    if (config.refreshSkew !== undefined) durationToMs(config.refreshSkew);
    const header = config.idempotencyHeader;
    if (header !== undefined && header !== false && !/^[A-Za-z0-9-]+$/.test(header)) {
      throw new ConfigurationError(`${at}: idempotencyHeader must be a header name or false`);
    }
    if (config.answers !== undefined && config.answers !== "api" && config.answers !== "webhook") {
      throw new ConfigurationError(`${at}: answers must be "api" or "webhook", got ${JSON.stringify(config.answers)}`);
    }
    for (const [field, value] of Object.entries(config.credentials ?? {})) {
      if (typeof value !== "string" && !isSecretRef(value)) {
        throw new ConfigurationError(`${at}: credentials.${field} must be secretFromEnv("NAME") or a string`);
      }
    }
  }
}

function assertAuth(at: string, config: ConnectionConfig): void {
  const auth = config.auth;
  if (auth === undefined) return;
  if (!authTypes.includes(auth.type)) {
    throw new ConfigurationError(`${at}: auth.type must be one of ${authTypes.join(", ")}`);
  }
  if (auth.type === "apiKey" && (!["header", "query"].includes(auth.in) || !auth.name)) {
    throw new ConfigurationError(
      `${at}: an apiKey auth needs in: "header" | "query" and the name of the header or parameter`,
    );
  }
  if (auth.type === "custom" && typeof auth.sign !== "function") {
    throw new ConfigurationError(`${at}: a custom auth needs sign(request, credentials)`);
  }
  if (auth.type === "oauth2") {
    assertUrl(`${at}: auth.tokenUrl`, auth.tokenUrl);
    if (auth.grant === "authorization_code") assertUrl(`${at}: auth.authorizationUrl`, auth.authorizationUrl);
    else if (auth.grant !== "client_credentials") {
      throw new ConfigurationError(`${at}: auth.grant must be "client_credentials" or "authorization_code"`);
    }
  }
}

function assertUrl(what: string, value: unknown): void {
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new ConfigurationError(`${what} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
}
