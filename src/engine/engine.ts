import pino, { type Logger } from "pino";
import { readLogLevel } from "../config/settings.ts";
import { Poller, type PollerOptions } from "../ingestion/polling/poller.ts";
import { entityTagsOf } from "../observability/entity-tags.ts";
import { logContext } from "../observability/logger.ts";
import { createMetrics, eventOutcome, type TenonMetrics } from "../observability/metrics.ts";
import { RunObserver } from "../observability/run-metrics.ts";
import { captureTraceContext } from "../observability/tracing.ts";
import { type Clock, systemClock } from "../runtime/clock.ts";
import { newId } from "../runtime/ids.ts";
import type { ConnectionClient } from "../sdk/connection-client.ts";
import type { Integration } from "../sdk/define-integration.ts";
import type { Poll } from "../sdk/define-poll.ts";
import { ConfigurationError, toError, ValidationError } from "../sdk/errors.ts";
import type {
  AcceptResult,
  NewEvent,
  NewRun,
  PollState,
  Requalification,
  RunRecord,
  RunTransition,
  Storage,
} from "../storage/contract.ts";
import { isStorableText, toStorableText } from "../storage/storable-text.ts";
import type { NewTag } from "../storage/tag-store.ts";
import { GroupCommitter } from "./group-commit.ts";
import { payloadToJson } from "./journal-value.ts";
import { pruneBatchSize, type RetentionOptions, RetentionPruner } from "./retention-pruner.ts";
import { Scheduler } from "./scheduler.ts";
import { Worker, type WorkerOptions } from "./worker.ts";

export interface EngineOptions {
  storage: Storage;
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type live side by side
  integrations: Integration<any, any>[];
  /** Poll sources (systems without webhooks); polled by processes that run a worker. */
  // biome-ignore lint/suspicious/noExplicitAny: polls of any item type live side by side
  polls?: Poll<any>[];
  /** false: this process only accepts events (no worker, no schedules, no polling). */
  worker?: WorkerOptions | false;
  poller?: PollerOptions;
  /** What processes with a worker prune, and how (default: the TENON_RETENTION defaults); false: nothing. */
  retention?: RetentionOptions | false;
  /** The configured connections (createConnections): runs reach them through `connection(name)`. */
  connections?: ConnectionClients;
  clock?: Clock;
  /** Source of jitter for retry backoff; tests pin it. */
  random?: () => number;
  logger?: Logger;
  /** Where the engine counts events, runs and steps. Default: metrics of its own, without process metrics. */
  metrics?: TenonMetrics;
}

/** What the engine needs of the connections: a client by name, and a chance to flush on stop. */
export interface ConnectionClients {
  client(name: string): ConnectionClient;
  stop(): Promise<void>;
}

export interface SendEventInput {
  type: string;
  payload: unknown;
  /** Where the event came from. Default "api". */
  source?: string;
  /** The sender's own event id: a second event with the same (source, id) is a duplicate and starts nothing. */
  id?: string;
  /**
   * The JSON text `payload` was parsed from (a verified webhook's body): stored as it came instead of
   * serialised again. The caller vouches that JSON.parse of it gives `payload`.
   */
  payloadJson?: string | undefined;
}

export interface SendOptions {
  /** A hash of the request that carried the event; a duplicate reports the original's (Idempotency-Key checks). */
  fingerprint?: string;
}

export interface QuarantineInput {
  source: string;
  type: string;
  /** The provider's id, if known: a redelivery of the same unusable request is stored once. */
  id?: string;
  /** What arrived, as far as it could be kept (the raw body when it could not be parsed). */
  payload: unknown;
  /** Why it cannot be processed; shown to the operator. */
  reason: string;
}

/** A quarantined event as it reads now: its type and payload, or why it still cannot be read. */
export type RequalifyInput = { type: string; payload: unknown; parsedAgain: boolean } | { unusable: string };

export type RequalifyResult =
  | { status: "accepted"; runIds: string[] }
  | { status: "unmatched" }
  | { status: "quarantined"; reason: string }
  /** Its runs were started already (replayed, by this or another replay): nothing was done. */
  | { status: "skipped"; reason: string };

export interface Engine {
  readonly storage: Storage;
  /** Its Prometheus metrics (`/metrics`). */
  readonly metrics: TenonMetrics;
  /** Migrates storage, recovers runs left by a crash (SQLite), starts the worker and the schedules. */
  start(): Promise<void>;
  /** Stops claiming, lets in-flight runs finish for up to `deadlineMs` (default 10 s), releases the rest. */
  stop(options?: { deadlineMs?: number }): Promise<void>;
  /**
   * Durably stores the event and its runs; resolves once committed. An event an integration cannot
   * take (its concurrency key function throws) is stored as quarantined with the reason, and starts nothing.
   */
  send(event: SendEventInput, options?: SendOptions): Promise<AcceptResult>;
  /** Durably stores an event that cannot be processed (verified but unparseable), with the reason; no runs. */
  quarantine(input: QuarantineInput): Promise<AcceptResult>;
  /** Moves a poll source's cursor back (or forward) and polls it now; items already seen are deduplicated. */
  backfill(pollId: string, fromCursor: string | null): Promise<void>;
  /** A poll source's cursor, last success and last error. */
  pollState(pollId: string): Promise<PollState | null>;
  /** Resumes a run from its first incomplete step (its journal is kept). */
  replay(runId: string, options?: { actor?: string }): Promise<RunRecord>;
  /** Starts fresh runs for a stored event, one per integration it matches now. */
  replayEvent(eventId: string): Promise<string[]>;
  /**
   * Judges a quarantined or unmatched event again, as it is now (its body parsed again when it could not be
   * before, by the caller, which knows the webhook sources): it starts runs, is unmatched, or is quarantined with
   * the new reason. Only while it is still in the status it was read in, so two replays of it never both start runs.
   */
  requalifyEvent(eventId: string, now: RequalifyInput): Promise<RequalifyResult>;
  /** Fires due cron ticks now; the engine does this by itself, tests with a manual clock call it. */
  fireDueSchedules(): Promise<number>;
  /** Looks for due runs now; the engine does this by itself, tests with a manual clock call it. */
  wake(): void;
}

export function createEngine(options: EngineOptions): Engine {
  const storage = options.storage;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? pino({ level: readLogLevel(), mixin: logContext });
  const integrations = indexIntegrations(options.integrations);
  const metrics = options.metrics ?? createMetrics();
  metrics.readRunsFrom({
    countRunsByStatus: () => storage.countRunsByStatus(),
    nextDueAt: () => storage.nextDueAt(),
    now: () => clock.now(),
  });
  /** Every event committed by a webhook, the event API or a replay is counted here, once it is durable. */
  const accepts = new GroupCommitter<NewEvent, AcceptResult>(
    metrics.enabled
      ? async (events) => {
          const results = await storage.acceptEvents(events);
          for (let i = 0; i < events.length; i++) {
            const event = events[i] as NewEvent;
            metrics.eventReceived(event.source, eventOutcome(event, results[i] as AcceptResult));
          }
          return results;
        }
      : (events) => storage.acceptEvents(events),
  );
  const accept = (event: NewEvent) => accepts.submit(event);
  // Runs are measured from the batches their transitions commit in: no extra step per transition.
  const runObserver = metrics.enabled ? new RunObserver(metrics) : undefined;
  const transitions = new GroupCommitter<RunTransition, boolean>(
    runObserver
      ? async (ts) => {
          const applied = await storage.applyTransitions(ts);
          runObserver.committed(ts, applied);
          return applied;
        }
      : (ts) => storage.applyTransitions(ts),
  );
  const transition = (t: RunTransition) => transitions.submit(t);
  // What runs tag (step.tag) shares a transaction too: concurrent runs cost one commit, not one each.
  const stepTags = new GroupCommitter<NewTag, void>(async (tags) => {
    await storage.tags.addTags(tags);
    return tags.map(() => undefined);
  });
  const tag = (t: NewTag) => stepTags.submit(t);
  const connection = (name: string): ConnectionClient => {
    if (!options.connections) {
      throw new ConfigurationError(
        `no connection "${name}": this engine has no connections; declare them under "connections" in tenon.config.ts`,
      );
    }
    return options.connections.client(name);
  };
  const worker =
    options.worker === false
      ? undefined
      : new Worker(
          { storage, integrations, clock, random, logger, transition, connection, tag, runObserver },
          options.worker,
        );
  const scheduler =
    options.worker === false
      ? undefined
      : new Scheduler([...integrations.values()], {
          storage,
          clock,
          logger,
          onTickFired: () => metrics.eventReceived("schedule", "accepted"),
        });
  const pruner =
    options.worker === false || options.retention === false
      ? undefined
      : new RetentionPruner(storage.retention, clock, logger, {
          batchSize: pruneBatchSize(storage.dialect),
          onPruned: (rows) => metrics.pruned(rows),
          ...options.retention,
        });
  const polls = indexPolls(options.polls ?? []);
  const poller =
    options.worker === false || polls.size === 0
      ? undefined
      : new Poller(
          [...polls.values()],
          {
            storage,
            clock,
            logger,
            toNewEvent: (input) => toNewEvent(validateEvent({ ...input, id: input.dedupKey }, clock.now())),
            onRunsStored: () => worker?.wake(),
            onPageStored: (events, results) => {
              for (const [i, event] of events.entries()) {
                const result = results[i];
                if (result) metrics.eventReceived(event.source, eventOutcome(event, result));
              }
            },
            connection,
          },
          options.poller,
        );
  let unsubscribe: () => void = () => {};

  /** The event with its runs, or quarantined if an integration cannot take it. */
  function toNewEvent(event: {
    id: string;
    source: string;
    type: string;
    dedupKey: string | null;
    payload: unknown;
    payloadJson?: string | undefined;
    receivedAt: number;
  }): NewEvent {
    const stored = {
      id: event.id,
      source: event.source,
      type: event.type,
      dedupKey: event.dedupKey,
      payloadJson: payloadToJson(event.payload, event.payloadJson),
      receivedAt: event.receivedAt,
    };
    try {
      return { ...stored, runs: runsFor(event) };
    } catch (error) {
      if (!(error instanceof UnusableEventError)) throw error;
      return { ...stored, runs: [], quarantineReason: toStorableText(error.message) };
    }
  }

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
      runs.push({ ...newRun(integration, event), tags: entityTagsOf(integration, event, logger) });
    }
    return runs;
  }

  return {
    storage,
    metrics,

    async start() {
      await storage.migrate();
      if (!worker) return;
      // SQLite: this process takes the file's worker over; anything still "running" was its dead predecessor's.
      const recovered = await storage.beginWorkerSession(clock.now());
      if (recovered > 0) logger.warn({ recovered }, "requeued runs interrupted by the previous process");
      unsubscribe = storage.onRunsAvailable(() => worker.wake());
      worker.start();
      scheduler?.start(() => worker.wake());
      poller?.start();
      pruner?.start();
    },

    async stop({ deadlineMs = 10_000 } = {}) {
      scheduler?.stop();
      await Promise.all([poller?.stop(), pruner?.stop()]);
      unsubscribe();
      await worker?.stop(deadlineMs);
      await Promise.all([accepts.whenIdle(), transitions.whenIdle(), stepTags.whenIdle()]);
      if (worker) await storage.endWorkerSession();
      await options.connections?.stop();
    },

    async send(input, sendOptions = {}) {
      const event = toNewEvent(validateEvent(input, clock.now()));
      if (sendOptions.fingerprint !== undefined) event.fingerprint = sendOptions.fingerprint;
      // Stored with the event, so its runs, wherever and whenever they execute, continue the request's trace.
      const traceContext = captureTraceContext();
      if (traceContext !== undefined) event.traceContext = traceContext;
      const result = await accept(event);
      if (!result.duplicate && result.runIds.length > 0) worker?.wake();
      return result;
    },

    async quarantine(input) {
      const event = validateEvent({ ...input, id: input.id }, clock.now());
      return accept({
        ...event,
        payloadJson: payloadToJson(input.payload),
        runs: [],
        quarantineReason: toStorableText(input.reason),
      });
    },

    async backfill(pollId, fromCursor) {
      if (!polls.has(pollId)) {
        throw new ValidationError(`no poll source "${pollId}"; known: ${[...polls.keys()].join(", ") || "none"}`);
      }
      await storage.resetPollCursor(pollId, fromCursor, clock.now());
      poller?.wake();
    },

    pollState(pollId) {
      return storage.getPollState(pollId);
    },

    async replay(runId, replayOptions) {
      const run = await storage.replayRun(runId, clock.now(), replayOptions?.actor);
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

    async requalifyEvent(eventId, input) {
      const stored = await storage.getEvent(eventId);
      if (!stored) throw new ValidationError(`event ${eventId} does not exist`);
      const from = stored.status;
      if (from === "accepted") return { status: "skipped", reason: "it is accepted now: its runs were started" };
      let outcome: Requalification;
      if ("unusable" in input) {
        outcome = { quarantineReason: toStorableText(input.unusable) };
      } else {
        try {
          outcome = { runs: runsFor({ ...stored, type: input.type, payload: input.payload }) };
          if (input.parsedAgain) outcome.parsed = { type: input.type, payloadJson: payloadToJson(input.payload) };
        } catch (error) {
          if (!(error instanceof UnusableEventError)) throw error;
          outcome = { quarantineReason: toStorableText(error.message) };
        }
      }
      if (!(await storage.requalifyEvent(eventId, outcome, clock.now(), from))) {
        return { status: "skipped", reason: `it is no longer ${from}: another replay took it first` };
      }
      if ("quarantineReason" in outcome) return { status: "quarantined", reason: outcome.quarantineReason };
      if (outcome.runs.length === 0) return { status: "unmatched" };
      worker?.wake();
      return { status: "accepted", runIds: outcome.runs.map((r) => r.id) };
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
  return { id: newId(), integrationId: integration.id, ...concurrencyOf(integration, event) };
}

/** The event is valid but an integration cannot take it: it is quarantined with this message. */
class UnusableEventError extends Error {
  override readonly name = "UnusableEventError";
}

function indexPolls(list: Poll[]): Map<string, Poll> {
  const byId = new Map<string, Poll>();
  for (const poll of list) {
    if (byId.has(poll.id)) throw new ConfigurationError(`two poll sources share the id "${poll.id}"`);
    byId.set(poll.id, poll);
  }
  return byId;
}

function indexIntegrations(list: Integration[]): Map<string, Integration> {
  const byId = new Map<string, Integration>();
  for (const integration of list) {
    if (byId.has(integration.id)) throw new ConfigurationError(`two integrations share the id "${integration.id}"`);
    byId.set(integration.id, integration);
  }
  return byId;
}

function validateEvent(
  input: SendEventInput,
  now: number,
): {
  id: string;
  source: string;
  type: string;
  dedupKey: string | null;
  payload: unknown;
  payloadJson: string | undefined;
  receivedAt: number;
} {
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
  if ([input.type, source, input.id].some((field) => field !== undefined && !isStorableText(field))) {
    throw new ValidationError("event type, source and id must be well-formed text without NUL characters");
  }
  return {
    id: newId(),
    source,
    type: input.type,
    dedupKey: input.id ?? null,
    payload: input.payload,
    payloadJson: typeof input.payloadJson === "string" ? input.payloadJson : undefined,
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
    throw new UnusableEventError(
      `integration "${integration.id}": its concurrency key function threw for this event: ${toError(error).message}`,
    );
  }
  if (typeof key !== "string" || key.length === 0 || !isStorableText(key)) {
    throw new UnusableEventError(
      `integration "${integration.id}": its concurrency key must be a non-empty, well-formed string without NUL, got ${JSON.stringify(key)}`,
    );
  }
  return { concurrencyKey: `${integration.id}:${key}`, concurrencyLimit: integration.concurrency.limit ?? 1 };
}
