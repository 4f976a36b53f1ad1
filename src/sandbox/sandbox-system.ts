import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FaultDecision } from "./faults.ts";
import type { CapturedRequest } from "./request-log.ts";
import type { WebhookRetrySchedule } from "./webhook-retry-schedules.ts";
import type { WebhookSender } from "./webhook-sender.ts";

/** What every sandbox system gets from the sandbox it runs in. */
export interface SandboxContext {
  /** Epoch ms (the sandbox's clock). */
  now(): number;
  /** Where the system's API is served, e.g. `http://127.0.0.1:4010/crm` (known once the sandbox listens). */
  baseUrl(): string;
  /** Delivers the system's outbound webhooks to its configured target, with retries. */
  readonly webhooks: WebhookSender;
  /**
   * The faults in force, decided for one request that reaches the system through a listener of its own
   * (the mail system's SMTP port), which the sandbox's HTTP hooks never see; counted in the state's
   * `injectedFaults` like theirs. `outageOnly` asks only whether an outage is on (a connection opening).
   */
  decideFault(options?: { outageOnly?: boolean }): FaultDecision;
  /** Whether the next webhook is silently never sent (the `dropWebhooksRate` fault), decided and counted. */
  dropsWebhook(): boolean;
  /** Keeps a request that came through a listener of the system's own, for `GET /_sandbox/<name>/requests`. */
  captureRequest(request: CapturedRequest): void;
}

/** A server a system runs beside the sandbox's HTTP port (the mail system's SMTP server). */
export interface SandboxListener {
  /** Starts accepting connections on `host` (where the sandbox listens). */
  listen(host: string): Promise<void>;
  /** Where it listens (`smtp://127.0.0.1:2525`); undefined until it does. */
  url(): string | undefined;
  /** Stops accepting connections and ends the open ones. */
  close(): Promise<void>;
}

/**
 * One simulated external system (a Shopify-like store, a HubSpot-like CRM, …). It speaks the real API's
 * wire format under `/<name>` and keeps its records in memory, so tests and the demo can inspect them.
 * Faults (latency, 5xx, 429, outages, schema changes) are applied around its routes by the sandbox;
 * credentials are the system's own business, because every API checks them its own way.
 */
export interface SandboxSystem {
  readonly name: string;
  /** How its provider retries a webhook that failed; default the Standard Webhooks (Svix) schedule. */
  readonly webhookRetries?: WebhookRetrySchedule;
  /** Servers of its own, started when the sandbox listens and closed with it. */
  readonly listeners?: readonly SandboxListener[];
  /** The API routes, registered in a scope prefixed with `/<name>`. */
  registerRoutes(app: FastifyInstance): void;
  /** Extra control routes, registered in a scope prefixed with `/_sandbox/<name>` (e.g. `POST /orders` to simulate a checkout). */
  registerControlRoutes?(app: FastifyInstance): void;
  /** Everything the system holds, for `GET /_sandbox/<name>/state`: records, not secrets. */
  state(): unknown;
  /** How many records of each kind the system holds, cheap enough to call every second. */
  counts(): Record<string, number>;
  /** What a connection needs to talk to this system (keys, client ids and secrets, refresh tokens). */
  credentials(): Record<string, string>;
  /** Non-secret identifiers a connection's URL needs (QuickBooks' realm id). */
  identifiers?(): Record<string, string>;
  /** Every credential in use stops working (the "revoke credentials" fault). */
  revokeCredentials(): void;
  /** Static credentials work again; revoked OAuth tokens stay revoked: a person authorises again. */
  restoreCredentials(): void;
  /** Stops what the system does on its own (timers, callback deliveries) when the sandbox closes. */
  close?(): Promise<void> | void;
}

export type SandboxRequest = FastifyRequest;
export type SandboxReply = FastifyReply;

/** Route options that exempt a route from the injected 5xx and 429 faults (token endpoints); outages still apply. */
export const outageOnly = { sandboxFaults: "outage-only" } as const;
