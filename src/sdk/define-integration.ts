import type { ConnectionClient } from "./connection-client.ts";
import type { Duration } from "./duration.ts";
import { ConfigurationError } from "./errors.ts";
import { type RetryPolicy, resolveRetryPolicy } from "./retry-policy.ts";
import { stampWithThisCopy } from "./tenon-copy.ts";

/** What starts a run: an event of a given type (optionally from one source), or a cron schedule. */
export type Trigger = { event: string; source?: string } | { cron: string; timezone?: string };

/** The event a run was started by, as the integration sees it. */
export interface TriggerEvent<Payload> {
  id: string;
  source: string;
  type: string;
  payload: Payload;
  receivedAt: Date;
}

export interface StepContext {
  /**
   * Stable across every retry and resume of this step in this run: pass it to
   * external APIs (`Idempotency-Key`) or use it for check-then-act upserts.
   */
  idempotencyKey: string;
  /** 1 on the first attempt of this step, 2 on its first retry, … */
  attempt: number;
}

/** An entity's id as an integration hands it over: strings and numbers; undefined, null and blank values are skipped. */
export type EntityValue = string | number | null | undefined;

/**
 * The business entities an event concerns, by kind: `{ order: 1001, email: "ada@example.com" }`. A kind is
 * lower-case (`a-z`, `0-9`, `_`, `-`, starting with a letter); a list tags each of its values.
 */
export type Entities = Record<string, EntityValue | readonly EntityValue[]>;

export interface StepOptions {
  /** Overrides the integration's retry policy for this step. */
  retries?: RetryPolicy;
}

export interface StepTools {
  /**
   * Runs `fn` once per run: its (JSON) result is journaled, and a retried or
   * resumed run gets the journaled result back without calling `fn` again.
   * Calling the same name twice in one run journals the second call as
   * `name#2`, the third as `name#3`, … (so loops work; call order must be deterministic).
   */
  run<T>(name: string, fn: (ctx: StepContext) => T | Promise<T>, options?: StepOptions): Promise<Jsonified<T>>;
  /** Durable timer: the run is released and resumes after `duration`; no worker waits. */
  sleep(name: string, duration: Duration): Promise<void>;
  /** Durable timer until a point in time. */
  sleepUntil(name: string, until: Date | number): Promise<void>;
  /**
   * Tags the run with an entity it created or touched (`step.tag("invoice", invoice.id)`), so that searching
   * for it (`tenon search invoice:1234`) finds this run, its event and its outbound requests. Stored once per
   * run however often it is called (a resumed run calls it again); undefined, null or blank stores nothing.
   */
  tag(kind: string, value: EntityValue): Promise<void>;
}

/** What a journaled value looks like after its JSON round trip (Dates become strings, etc.). */
export type Jsonified<T> = T extends { toJSON(): infer R }
  ? R
  : T extends string | number | boolean | null
    ? T
    : T extends undefined
      ? undefined
      : T extends readonly (infer U)[]
        ? Jsonified<U>[]
        : T extends object
          ? { [K in keyof T]: Jsonified<T[K]> }
          : never;

export interface RunContext<Payload> {
  event: TriggerEvent<Payload>;
  step: StepTools;
  run: { id: string; integrationId: string };
  /**
   * The client of a configured connection (`connections` in tenon.config.ts): auth, rate limit,
   * circuit breaker, idempotency key and audit trail included. Call it inside `step.run`.
   */
  connection(name: string): ConnectionClient;
}

export interface ConcurrencyOptions<Payload> {
  /** Runs with the same key run at most `limit` at a time, in arrival order. */
  key: (event: TriggerEvent<Payload>) => string;
  /** Default 1: strictly one at a time per key. */
  limit?: number;
}

export interface IntegrationDefinition<Payload = unknown, Output = unknown> {
  id: string;
  trigger: Trigger;
  concurrency?: ConcurrencyOptions<Payload>;
  retries?: RetryPolicy;
  /**
   * The business entities this integration's events concern, for search by entity (docs/entity-search.md):
   * `(event) => ({ order: event.payload.order_number, email: event.payload.email })`. Stored with the event
   * and its run when the event is accepted. If it throws, the event and its run are stored all the same,
   * without these tags, and the error is logged.
   */
  entities?: (event: TriggerEvent<Payload>) => Entities;
  run: (ctx: RunContext<Payload>) => Promise<Output> | Output;
}

export type Integration<Payload = unknown, Output = unknown> = Readonly<IntegrationDefinition<Payload, Output>>;

const idPattern = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** Declares an integration. Checked here so a mistake fails at load time, not at 3 a.m. */
export function defineIntegration<Payload = unknown, Output = unknown>(
  definition: IntegrationDefinition<Payload, Output>,
): Integration<Payload, Output> {
  if (!idPattern.test(definition.id ?? "")) {
    throw new ConfigurationError(
      `integration id "${definition.id}" must be 1-100 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  const trigger = definition.trigger as Partial<{ event: unknown; cron: unknown }> | undefined;
  if (!trigger || (typeof trigger.event !== "string" && typeof trigger.cron !== "string")) {
    throw new ConfigurationError(
      `integration "${definition.id}": trigger must be { event: "type" } or { cron: "* * * * *" }`,
    );
  }
  if (typeof definition.run !== "function") {
    throw new ConfigurationError(`integration "${definition.id}": run must be a function`);
  }
  if (definition.entities !== undefined && typeof definition.entities !== "function") {
    throw new ConfigurationError(
      `integration "${definition.id}": entities must be a function of the event, e.g. (event) => ({ order: event.payload.id })`,
    );
  }
  try {
    resolveRetryPolicy(definition.retries);
  } catch (error) {
    throw new ConfigurationError(`integration "${definition.id}": ${(error as Error).message}`, { cause: error });
  }
  const limit = definition.concurrency?.limit ?? 1;
  if (definition.concurrency && (!Number.isInteger(limit) || limit < 1)) {
    throw new ConfigurationError(`integration "${definition.id}": concurrency.limit must be an integer ≥ 1`);
  }
  return Object.freeze(stampWithThisCopy({ ...definition }));
}
