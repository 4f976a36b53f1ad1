import type { Logger } from "pino";
import { Agent } from "undici";
import { createMetrics, type TenonMetrics } from "../observability/metrics.ts";
import { type Clock, systemClock } from "../runtime/clock.ts";
import { newId } from "../runtime/ids.ts";
import { currentStep } from "../runtime/step-scope.ts";
import type { ConnectionClient } from "../sdk/connection-client.ts";
import { durationToMs } from "../sdk/duration.ts";
import { ConfigurationError, ValidationError } from "../sdk/errors.ts";
import type {
  AuditFilter,
  AuditRecord,
  CircuitState,
  ConnectionIncident,
  ConnectionRecord,
  RateLimitState,
} from "../storage/connection-store.ts";
import type { Storage } from "../storage/contract.ts";
import { AuditTrail, type AuditTrailOptions } from "./audit/audit-trail.ts";
import { redactBody, redactHeaders, redactSecrets, redactUrl, truncateBody } from "./audit/redact.ts";
import { ConnectionAuth, type CredentialFields } from "./auth/connection-auth.ts";
import { finishAuthorization, type OAuthExchange, startAuthorization } from "./auth/oauth2.ts";
import type { ConnectionConfig } from "./connection-config.ts";
import { CircuitBreaker } from "./http/circuit-breaker.ts";
import { HttpConnectionClient, type ResponseObserver } from "./http/connection-client.ts";
import { parseRateLimit } from "./http/rate-limit-policy.ts";
import { RateLimiter } from "./http/rate-limiter.ts";
import { assertConnectionConfigs } from "./validate-connection-config.ts";
import { authorizationScope } from "./vault/rotate-master-key.ts";
import type { Vault } from "./vault/vault.ts";

export interface ConnectionsOptions {
  storage: Storage;
  vault: Vault;
  configs: Record<string, ConnectionConfig>;
  logger: Logger;
  clock?: Clock;
  /** The base URL the OAuth provider redirects back to (`<publicUrl>/oauth/callback`). */
  publicUrl?: string;
  audit?: AuditTrailOptions;
  /** A rate-limit token due within this wait is waited for in the request; a later one reschedules the run. Default 2 s. */
  maxInlineWaitMs?: number;
  /** Where outbound requests, rate-limit waits and connection states are reported (the engine's). Default: off. */
  metrics?: TenonMetrics;
  /** Sees every answer a connection returns: the drift learner's `observeResponse`. Default: none. */
  observeResponse?: ResponseObserver;
}

/** A connection as the operator sees it: no secrets, just state. */
export interface ConnectionSummary {
  id: string;
  baseUrl: string;
  authType: string;
  status: ConnectionRecord["status"];
  statusReason: string | null;
  /** When the stored credentials (an access token) expire, if known: alerts warn ahead of it. */
  expiresAt: number | null;
  hasStoredCredentials: boolean;
  circuit: CircuitState;
  rateLimit: RateLimitState | null;
}

const pendingAuthorizationMs = 10 * 60_000;
const defaultBodyLimit = 16 * 1024;

interface Connection {
  config: ConnectionConfig;
  auth: ConnectionAuth;
  client: ConnectionClient;
  dispatcher: Agent;
}

/** The configured connections of a deployment: their clients, credentials, OAuth flows and audit trail. */
export class Connections {
  readonly #options: ConnectionsOptions;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #metrics: TenonMetrics;
  readonly #connections = new Map<string, Connection>();

  constructor(options: ConnectionsOptions) {
    assertConnectionConfigs(options.configs);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#audit = new AuditTrail(options.storage.connections, options.logger, options.audit);
    this.#metrics = options.metrics ?? createMetrics({ enabled: false });
    for (const [id, config] of Object.entries(options.configs)) this.#connections.set(id, this.#build(id, config));
    this.#metrics.readConnectionsFrom(() => this.list());
  }

  get names(): string[] {
    return [...this.#connections.keys()];
  }

  get audit(): AuditTrail {
    return this.#audit;
  }

  client(name: string): ConnectionClient {
    return this.#get(name).client;
  }

  /** Flushes the audit trail and closes the connections' sockets; safe to call more than once. */
  async stop(): Promise<void> {
    await this.#audit.stop();
    await Promise.all(
      [...this.#connections.values()].filter((c) => !c.dispatcher.closed).map((c) => c.dispatcher.close()),
    );
  }

  async list(): Promise<ConnectionSummary[]> {
    return Promise.all(this.names.map((name) => this.describe(name)));
  }

  async describe(name: string): Promise<ConnectionSummary> {
    const { config } = this.#get(name);
    const store = this.#options.storage.connections;
    const [record, circuit, rateLimit] = await Promise.all([
      store.getConnection(name),
      store.getCircuit(name),
      store.getRateLimitState(name),
    ]);
    return {
      id: name,
      baseUrl: config.baseUrl,
      authType: config.auth?.type ?? "none",
      status: record?.status ?? "active",
      statusReason: record?.statusReason ?? null,
      expiresAt: record?.expiresAt ?? null,
      hasStoredCredentials: record?.sealedCredentials != null,
      circuit,
      rateLimit,
    };
  }

  /** The connection's incidents (credentials rejected, circuit opened, …), newest first. */
  listIncidents(name: string, limit: number): Promise<ConnectionIncident[]> {
    return this.#options.storage.connections.listIncidents({ connectionId: name, limit });
  }

  /** The audit trail's outbound exchanges, redacted before they were stored, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return this.#options.storage.connections.listAudit(filter);
  }

  /**
   * Stores credentials a person supplied (sealed by the vault), merged over the stored ones unless
   * `replace`; the connection becomes active and its paused runs resume. Returns how many resumed.
   */
  async setCredentials(
    name: string,
    fields: CredentialFields,
    options: { expiresAt?: number | null; replace?: boolean } = {},
  ): Promise<number> {
    for (const [field, value] of Object.entries(fields)) {
      if (typeof value !== "string" || value === "") {
        throw new ValidationError(`credential "${field}" must be a non-empty string`);
      }
    }
    return this.#get(name).auth.save(fields, options);
  }

  /** Begins an OAuth authorisation (PKCE, state): returns the provider URL to send the person to. */
  async startAuthorization(name: string, returnTo: string | null = null): Promise<string> {
    const { config, auth } = this.#get(name);
    const oauth = config.auth;
    if (oauth?.type !== "oauth2" || oauth.grant !== "authorization_code") {
      throw new ValidationError(`connection "${name}" does not use OAuth2 authorization codes; nothing to authorise`);
    }
    await auth.load(true);
    const clientId = auth.credential("clientId");
    if (!clientId) throw new ValidationError(`connection "${name}" has no clientId credential; set it first`);
    const started = await startAuthorization(oauth, clientId, this.#redirectUri());
    await this.#options.storage.connections.savePendingAuthorization({
      state: started.state,
      connectionId: name,
      sealedVerifier: this.#options.vault.seal(authorizationScope(started.state), started.codeVerifier),
      returnTo,
      expiresAt: this.#clock.now() + pendingAuthorizationMs,
    });
    return started.url;
  }

  /** Completes an authorisation from the provider's redirect: exchanges the code and stores the tokens. */
  async completeAuthorization(
    callbackUrl: URL,
  ): Promise<{ connectionId: string; returnTo: string | null; resumedRuns: number }> {
    const state = callbackUrl.searchParams.get("state");
    const pending = state
      ? await this.#options.storage.connections.takePendingAuthorization(state, this.#clock.now())
      : null;
    if (!state || !pending) {
      throw new ValidationError(
        "this authorisation is unknown or expired (state missing, already used, or older than 10 minutes); start again at /oauth/<connection>/start",
      );
    }
    const { config, auth } = this.#get(pending.connectionId);
    if (config.auth?.type !== "oauth2" || config.auth.grant !== "authorization_code") {
      throw new ValidationError(`connection "${pending.connectionId}" no longer uses OAuth2 authorization codes`);
    }
    const codeVerifier = this.#options.vault.open(authorizationScope(state), pending.sealedVerifier);
    // The client credentials may have been stored by another process (CLI, API) since this one last looked.
    await auth.load(true);
    const tokens = await finishAuthorization(
      config.auth,
      { clientId: auth.credential("clientId") ?? "", clientSecret: auth.credential("clientSecret") ?? "" },
      this.#redirectUri(),
      callbackUrl,
      { state, codeVerifier },
      { now: () => this.#clock.now(), onExchange: (e) => this.#auditTokenExchange(pending.connectionId, auth, e) },
    );
    const stored: CredentialFields = { accessToken: tokens.accessToken };
    if (tokens.refreshToken !== undefined) stored.refreshToken = tokens.refreshToken;
    const resumedRuns = await auth.save(stored, { expiresAt: tokens.expiresAt });
    return { connectionId: pending.connectionId, returnTo: pending.returnTo, resumedRuns };
  }

  #redirectUri(): string {
    const base = this.#options.publicUrl;
    if (!base) {
      throw new ConfigurationError(
        "OAuth authorisation needs TENON_PUBLIC_URL: the base URL the provider redirects back to (…/oauth/callback)",
      );
    }
    return new URL("/oauth/callback", base).toString();
  }

  #get(name: string): Connection {
    const connection = this.#connections.get(name);
    if (!connection) {
      throw new ConfigurationError(
        `no connection "${name}"; configured: ${this.names.join(", ") || "none"} (declare it under "connections" in tenon.config.ts)`,
      );
    }
    return connection;
  }

  #build(id: string, config: ConnectionConfig): Connection {
    const { storage, vault, logger } = this.#options;
    const clock = this.#clock;
    const timeouts = config.timeouts ?? {};
    const dispatcher = new Agent({
      connect: { timeout: durationToMs(timeouts.connect ?? "10s") },
      headersTimeout: durationToMs(timeouts.headers ?? "30s"),
      bodyTimeout: durationToMs(timeouts.body ?? "30s"),
    });
    const auth: ConnectionAuth = new ConnectionAuth(
      {
        connectionId: id,
        config,
        store: storage.connections,
        vault,
        clock,
        logger,
        onTokenExchange: (exchange) => this.#auditTokenExchange(id, auth, exchange),
      },
      durationToMs(config.refreshSkew ?? "60s"),
    );
    const circuitConfig = config.circuit === false ? false : (config.circuit ?? {});
    const circuit =
      circuitConfig === false
        ? false
        : new CircuitBreaker(id, storage.connections, clock, {
            failureThreshold: circuitConfig.failureThreshold ?? 5,
            cooldownMs: durationToMs(circuitConfig.cooldown ?? "30s"),
          });
    const policy = config.rateLimit ? parseRateLimit(config.rateLimit) : null;
    const metrics = this.#metrics.connection(id);
    const rateLimiter = new RateLimiter(
      id,
      storage.connections,
      clock,
      policy,
      this.#options.maxInlineWaitMs ?? 2000,
      () => metrics.rateLimitWait(),
    );
    const client = new HttpConnectionClient({
      connectionId: id,
      baseUrl: new URL(config.baseUrl),
      defaultHeaders: config.headers ?? {},
      idempotencyHeader: config.idempotencyHeader ?? "Idempotency-Key",
      dispatcher,
      headersTimeoutMs: durationToMs(timeouts.headers ?? "30s"),
      bodyTimeoutMs: durationToMs(timeouts.body ?? "30s"),
      auth,
      answers: config.answers ?? "api",
      circuit,
      rateLimiter,
      audit: this.#audit,
      auditOptions: this.#auditOptions(config),
      clock,
      metrics,
      ...(this.#options.observeResponse ? { observeResponse: this.#options.observeResponse } : {}),
    });
    return { config, auth, client, dispatcher };
  }

  #auditOptions(config: ConnectionConfig) {
    const secretParams = config.auth?.type === "apiKey" && config.auth.in === "query" ? [config.auth.name] : [];
    const apiKeyHeader = config.auth?.type === "apiKey" && config.auth.in === "header" ? [config.auth.name] : [];
    return {
      bodyLimit: config.audit?.bodyLimit ?? defaultBodyLimit,
      redactHeaders: [...apiKeyHeader, ...(config.audit?.redactHeaders ?? [])],
      redactFields: config.audit?.redactFields ?? [],
      secretParams,
    };
  }

  /** Token endpoint exchanges go to the audit trail like any other, with every secret in them redacted. */
  #auditTokenExchange(connectionId: string, auth: ConnectionAuth, exchange: OAuthExchange): void {
    const secretValues = auth.secretValues();
    const bodyLimit = this.#options.configs[connectionId]?.audit?.bodyLimit ?? defaultBodyLimit;
    const body = (text: string | null, contentType: string | undefined) =>
      text === null ? null : truncateBody(redactBody(text, { contentType, secretValues }), bodyLimit);
    const scope = currentStep();
    this.#audit.record({
      id: newId(),
      connectionId,
      runId: scope?.runId ?? null,
      stepName: scope?.stepName ?? null,
      method: exchange.method,
      url: redactUrl(exchange.url, { secretValues }),
      status: exchange.status,
      error: exchange.error === null ? null : redactSecrets(exchange.error, secretValues),
      durationMs: Math.round(exchange.durationMs),
      requestHeaders: JSON.stringify(redactHeaders(exchange.requestHeaders, { secretValues })),
      requestBody: body(exchange.requestBody, exchange.requestHeaders["content-type"]),
      responseHeaders: exchange.responseHeaders
        ? JSON.stringify(redactHeaders(exchange.responseHeaders, { secretValues }))
        : null,
      responseBody: body(exchange.responseBody, exchange.responseHeaders?.["content-type"]),
      at: this.#clock.now() - Math.round(exchange.durationMs),
    });
  }
}
