import { randomUUID } from "node:crypto";
import pino, { type Logger } from "pino";
import type { Integration } from "../sdk/define-integration.ts";
import { ConfigurationError, toError, ValidationError } from "../sdk/errors.ts";
import type { AcceptResult, NewEvent, NewRun, RunRecord, RunTransition, Storage } from "../storage/contract.ts";
import { type Clock, systemClock } from "./clock.ts";
import { GroupCommitter } from "./group-commit.ts";
import { payloadToJson } from "./journal-value.ts";
import { Scheduler } from "./scheduler.ts";
import { Worker, type WorkerOptions } from "./worker.ts";

export interface EngineOptions {
  storage: Storage;
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type live side by side
  integrations: Integration<any, any>[];
  /** false: this process only accepts events (no worker, no schedules). */
  worker?: WorkerOptions | false;
  clock?: Clock;
  /** Source of jitter for retry backoff; tests pin it. */
  random?: () => number;
  logger?: Logger;
}

export interface SendEventInput {
  type: string;
  payload: unknown;
  /** Where the event came from. Default "api". */
  source?: string;
  /** The sender's own event id: a second event with the same (source, id) is a duplicate and starts nothing. */
  id?: string;
}

export interface Engine {
  readonly storage: Storage;
  /** Migrates storage, recovers runs left by a crash (SQLite), starts the worker and the schedules. */
  start(): Promise<void>;
  /** Stops claiming, lets in-flight runs finish for up to `deadlineMs` (default 10 s), releases the rest. */
  stop(options?: { deadlineMs?: number }): Promise<void>;
  /** Durably stores the event and its runs; resolves once committed. */
  send(event: SendEventInput): Promise<AcceptResult>;
  /** Resumes a run from its first incomplete step (its journal is kept). */
  replay(runId: string): Promise<RunRecord>;
  /** Starts fresh runs for a stored event, one per integration it matches now. */
  replayEvent(eventId: string): Promise<string[]>;
  /** Fires due cron ticks now; the engine does this by itself, tests with a manual clock call it. */
  fireDueSchedules(): Promise<number>;
  /** Looks for due runs now; the engine does this by itself, tests with a manual clock call it. */
  wake(): void;
}

export function createEngine(options: EngineOptions): Engine {
  const storage = options.storage;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? pino({ level: process.env.TENON_LOG_LEVEL ?? "info" });
  const integrations = indexIntegrations(options.integrations);
  const accepts = new GroupCommitter<NewEvent, AcceptResult>((events) => storage.acceptEvents(events));
  const transitions = new GroupCommitter<RunTransition, boolean>((ts) => storage.applyTransitions(ts));
  const transition = (t: RunTransition) => transitions.submit(t);
  const worker =
    options.worker === false
      ? undefined
      : new Worker({ storage, integrations, clock, random, logger, transition }, options.worker);
  const scheduler =
    options.worker === false ? undefined : new Scheduler([...integrations.values()], { storage, clock, logger });
  let unsubscribe: () => void = () => {};

  function runsFor(event: {
    source: string;
    type: string;
    payload: unknown;
    id: string;
    receivedAt: number;
  }): NewRun[] {
    const runs: NewRun[] = [];
    for (const integration of integrations.values()) {
      const trigger = integration.trigger;
      if ("cron" in trigger) {
        // A schedule tick's event (source "schedule", type = integration id) belongs to that integration alone.
        if (event.source === "schedule" && event.type === integration.id) runs.push(newRun(integration, event));
        continue;
      }
      if (trigger.event !== event.type) continue;
      if (trigger.source !== undefined && trigger.source !== event.source) continue;
      runs.push(newRun(integration, event));
    }
    return runs;
  }

  return {
    storage,

    async start() {
      await storage.migrate();
      if (!worker) return;
      if (storage.dialect === "sqlite") {
        // One process owns a SQLite file, so anything still "running" belongs to a previous process that died.
        const recovered = await storage.releaseAllLeases(clock.now());
        if (recovered > 0) logger.warn({ recovered }, "requeued runs interrupted by the previous process");
      }
      unsubscribe = storage.onRunsAvailable(() => worker.wake());
      worker.start();
      scheduler?.start(() => worker.wake());
    },

    async stop({ deadlineMs = 10_000 } = {}) {
      scheduler?.stop();
      unsubscribe();
      await worker?.stop(deadlineMs);
      await Promise.all([accepts.whenIdle(), transitions.whenIdle()]);
    },

    async send(input) {
      const event = validateEvent(input, clock.now());
      const result = await accepts.submit({ ...event, runs: runsFor({ ...event, payload: input.payload }) });
      if (!result.duplicate && result.runIds.length > 0) worker?.wake();
      return result;
    },

    async replay(runId) {
      const run = await storage.replayRun(runId, clock.now());
      worker?.wake();
      return run;
    },

    async replayEvent(eventId) {
      const stored = await storage.getEvent(eventId);
      if (!stored) throw new ValidationError(`event ${eventId} does not exist`);
      const runs = runsFor({ ...stored, payload: JSON.parse(stored.payloadJson) });
      await storage.addRuns(eventId, runs, clock.now());
      worker?.wake();
      return runs.map((r) => r.id);
    },

    async fireDueSchedules() {
      const fired = (await scheduler?.fireDue()) ?? 0;
      if (fired > 0) worker?.wake();
      return fired;
    },

    wake() {
      worker?.wake();
    },
  };
}

function newRun(integration: Integration, event: Parameters<typeof concurrencyOf>[1]): NewRun {
  return { id: randomUUID(), integrationId: integration.id, ...concurrencyOf(integration, event) };
}

function indexIntegrations(list: Integration[]): Map<string, Integration> {
  const byId = new Map<string, Integration>();
  for (const integration of list) {
    if (byId.has(integration.id)) throw new ConfigurationError(`two integrations share the id "${integration.id}"`);
    byId.set(integration.id, integration);
  }
  return byId;
}

function validateEvent(input: SendEventInput, now: number): Omit<NewEvent, "runs"> {
  if (typeof input !== "object" || input === null)
    throw new ValidationError("an event must be an object { type, payload }");
  if (typeof input.type !== "string" || input.type.length === 0 || input.type.length > 200) {
    throw new ValidationError("event type must be a non-empty string of at most 200 characters");
  }
  const source = input.source ?? "api";
  if (typeof source !== "string" || source.length === 0 || source.length > 200) {
    throw new ValidationError("event source must be a non-empty string of at most 200 characters");
  }
  if (input.id !== undefined && (typeof input.id !== "string" || input.id.length === 0 || input.id.length > 500)) {
    throw new ValidationError("event id must be a non-empty string of at most 500 characters");
  }
  return {
    id: randomUUID(),
    source,
    type: input.type,
    dedupKey: input.id ?? null,
    payloadJson: payloadToJson(input.payload),
    receivedAt: now,
  };
}

function concurrencyOf(
  integration: Integration,
  event: { id: string; source: string; type: string; payload: unknown; receivedAt: number },
): Pick<NewRun, "concurrencyKey" | "concurrencyLimit"> {
  if (!integration.concurrency) return { concurrencyKey: null, concurrencyLimit: null };
  let key: unknown;
  try {
    key = integration.concurrency.key({ ...event, receivedAt: new Date(event.receivedAt) });
  } catch (error) {
    throw new ValidationError(
      `integration "${integration.id}": its concurrency key function threw for this event: ${toError(error).message}`,
    );
  }
  if (typeof key !== "string" || key.length === 0) {
    throw new ValidationError(
      `integration "${integration.id}": its concurrency key must be a non-empty string, got ${JSON.stringify(key)}`,
    );
  }
  return { concurrencyKey: `${integration.id}:${key}`, concurrencyLimit: integration.concurrency.limit ?? 1 };
}
