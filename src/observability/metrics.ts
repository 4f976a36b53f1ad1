import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AcceptResult, NewEvent, RunStatus } from "../storage/contract.ts";
import { runStatuses } from "../storage/run-statuses.ts";
import { type CounterSeries, FoldedCounter } from "./folded-counter.ts";

/**
 * Tenon's Prometheus metrics (`GET /metrics`), in a registry of their own: several engines live in one test
 * process, and an embedding application keeps its own default registry. Names are in seconds and labels never
 * carry an id (a run, event or request id would make a series per run): integration, step, source and
 * connection names are configuration, a bounded set.
 *
 * What is counted where:
 * - events: by the engine as they are committed (webhooks, the event API, polls and schedules alike);
 * - webhook rejections: by the webhook route (rejected requests are never stored);
 * - runs and step attempts: by the engine, from the batches of transitions it commits (run-metrics.ts);
 * - outbound requests and rate-limit waits: by the connection client;
 * - `tenon_runs`, `tenon_oldest_queued_run_age_seconds`, connection and circuit states: read from storage when
 *   scraped (cached for `stateCacheMs`), so every PostgreSQL worker reports the same truth.
 *
 * Turned off (`TENON_METRICS=off`), every recording method is a no-op and the registry stays empty.
 */
export interface TenonMetrics {
  readonly enabled: boolean;
  readonly registry: Registry;
  /** An event was committed, or recognised as a duplicate. */
  eventReceived(source: string, outcome: EventOutcome): void;
  /** A webhook request failed verification (`check`: missing-header, malformed-header, timestamp, signature). */
  webhookRejected(source: string, check: string): void;
  /** Retention deleted these rows in one batch, by table. */
  pruned(rows: Readonly<Record<string, number>>): void;
  /** The recorders of one integration's runs and steps, bound once. */
  integration(integrationId: string): IntegrationMetrics;
  /** The recorders of one connection's outbound requests, bound once. */
  connection(connectionId: string): ConnectionMetrics;
  /** Where the scrape-time gauges read runs from (the engine sets it). */
  readRunsFrom(source: RunStateSource): void;
  /** Where the scrape-time gauges read connection states from (the connections set it). */
  readConnectionsFrom(read: () => Promise<ConnectionStateReading[]>): void;
  /** Webhook rejections so far, by source and check (the demo and tests read them). */
  webhookRejections(): Promise<Record<string, Record<string, number>>>;
}

export type EventOutcome = "accepted" | "duplicate" | "quarantined" | "unmatched";

/**
 * How a step attempt ended. `waited`: a connection could not take the request (rate limit, open circuit, a
 * credential's variable unset) and the run waits without using an attempt; `paused`: the connection's
 * credentials were rejected; `interrupted`: the worker fenced itself (its lease may have lapsed). Attempts cut
 * short by a shutdown or a crash are not counted: the process that would count them is gone.
 */
export type StepOutcome = "succeeded" | "failed" | "waited" | "paused" | "interrupted";

export const stepOutcomes: readonly StepOutcome[] = ["succeeded", "failed", "waited", "paused", "interrupted"];

export interface IntegrationMetrics {
  runEnded(status: "succeeded" | "failed" | "dead", durationSeconds: number): void;
  /** From when the run could first be claimed to when its first step started. */
  scheduleToStart(seconds: number): void;
  stepAttempt(step: string, outcome: StepOutcome): void;
}

export interface ConnectionMetrics {
  /** One exchange on the wire: `status` null when no answer came (network error, timeout, abort). */
  requestFinished(method: string, status: number | null, durationSeconds: number): void;
  /** A request had to wait for the connection's rate limit (a 429, or the shared bucket was empty). */
  rateLimitWait(): void;
}

export interface RunStateSource {
  countRunsByStatus(): Promise<Partial<Record<RunStatus, number>>>;
  /** When the next claimable run became (or becomes) due: the oldest due one if it is in the past. */
  nextDueAt(): Promise<number | null>;
  now(): number;
}

export interface ConnectionStateReading {
  id: string;
  status: string;
  circuit: { status: string };
}

export interface MetricsOptions {
  /** false: every recorder is a no-op (TENON_METRICS=off). Default true. */
  enabled?: boolean;
  /** Node and process metrics (prom-client's defaults): on for a Tenon process, off for engines made in tests. */
  processMetrics?: boolean;
  /** How long a scrape reuses the states read from storage. Default 5 s. */
  stateCacheMs?: number;
}

/** The connection states a `tenon_connection_state` series exists for (ConnectionStatus). */
const connectionStates = ["active", "auth_failed"];
/** OTel's http.client.request.duration buckets. */
const httpBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Runs may sleep or wait for hours: the buckets reach a day. */
const runBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400];
const scheduleBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** OTel's rule for http.request.method: known methods as they are, anything else as _OTHER. */
const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

export function createMetrics(options: MetricsOptions = {}): TenonMetrics {
  return options.enabled === false ? disabledMetrics() : new PrometheusMetrics(options);
}

/** What the engine's accept path reports for a committed event. */
export function eventOutcome(event: NewEvent, result: AcceptResult): EventOutcome {
  if (result.duplicate) return "duplicate";
  if (event.quarantineReason !== undefined) return "quarantined";
  return result.runIds.length > 0 ? "accepted" : "unmatched";
}

/** "name#3" (the third call of a step name in a loop) counts as "name": the label stays one series per step. */
export function stepLabel(journalName: string): string {
  const hash = journalName.lastIndexOf("#");
  return hash > 0 && /^#\d+$/.test(journalName.slice(hash)) ? journalName.slice(0, hash) : journalName;
}

class PrometheusMetrics implements TenonMetrics {
  readonly enabled = true;
  readonly registry = new Registry();
  readonly #events: FoldedCounter<"source" | "outcome">;
  readonly #rejections: Counter<"source" | "check">;
  readonly #pruned: Counter<"table">;
  readonly #runsEnded: FoldedCounter<"integration" | "status">;
  readonly #runDuration: Histogram<"integration">;
  readonly #stepAttempts: FoldedCounter<"integration" | "step" | "outcome">;
  readonly #scheduleToStart: Histogram<"integration">;
  readonly #requestDuration: Histogram<"connection" | "method" | "status_class">;
  readonly #rateLimitWaits: Counter<"connection">;
  readonly #eventsBySource = new Map<string, Record<EventOutcome, CounterSeries>>();
  readonly #integrations = new Map<string, IntegrationMetrics>();
  readonly #connections = new Map<string, ConnectionMetrics>();
  readonly #stateCacheMs: number;
  #runSource: RunStateSource | undefined;
  #readConnections: (() => Promise<ConnectionStateReading[]>) | undefined;
  #runState: { at: number; reading: Promise<RunState> } | undefined;
  #connectionState: { at: number; reading: Promise<ConnectionStateReading[]> } | undefined;

  constructor(options: MetricsOptions) {
    const registers = [this.registry];
    this.#stateCacheMs = options.stateCacheMs ?? 5000;
    this.#events = new FoldedCounter({
      name: "tenon_events_received_total",
      help: "Events committed (accepted: runs started; unmatched: no integration takes it; quarantined: kept with a reason) or recognised as duplicates, by source",
      labelNames: ["source", "outcome"],
      registers,
    });
    this.#rejections = new Counter({
      name: "tenon_webhook_rejections_total",
      help: "Webhook requests answered 401 and not stored, by source and the check that failed",
      labelNames: ["source", "check"],
      registers,
    });
    this.#runsEnded = new FoldedCounter({
      name: "tenon_runs_ended_total",
      help: "Runs that reached a terminal status (succeeded, failed, dead), by integration",
      labelNames: ["integration", "status"],
      registers,
    });
    this.#runDuration = new Histogram({
      name: "tenon_run_duration_seconds",
      help: "From a run's creation to its end, by integration",
      labelNames: ["integration"],
      buckets: runBuckets,
      registers,
    });
    this.#stepAttempts = new FoldedCounter({
      name: "tenon_step_attempts_total",
      help: "Step attempts by how they ended: succeeded, failed, waited (rate limit, open circuit), paused (credentials rejected), interrupted (worker fenced)",
      labelNames: ["integration", "step", "outcome"],
      registers,
    });
    this.#scheduleToStart = new Histogram({
      name: "tenon_schedule_to_start_seconds",
      help: "From when a new run could be claimed to when its first step started (its first execution only)",
      labelNames: ["integration"],
      buckets: scheduleBuckets,
      registers,
    });
    this.#requestDuration = new Histogram({
      name: "tenon_http_client_request_duration_seconds",
      help: "Outbound requests through connections (OTel http.client.request.duration); status_class 2xx..5xx, or error when no answer came",
      labelNames: ["connection", "method", "status_class"],
      buckets: httpBuckets,
      registers,
    });
    this.#rateLimitWaits = new Counter({
      name: "tenon_rate_limit_waits_total",
      help: "Requests that had to wait for a connection's rate limit (a 429 answer, or the shared bucket was empty)",
      labelNames: ["connection"],
      registers,
    });
    this.#pruned = new Counter({
      name: "tenon_pruned_rows_total",
      help: "Rows deleted by retention (TENON_RETENTION, TENON_RETENTION_DEAD), by table",
      labelNames: ["table"],
      registers,
    });
    this.#registerStateGauges(registers);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  eventReceived(source: string, outcome: EventOutcome): void {
    let children = this.#eventsBySource.get(source);
    if (!children) {
      children = {
        accepted: this.#events.series({ source, outcome: "accepted" }),
        duplicate: this.#events.series({ source, outcome: "duplicate" }),
        quarantined: this.#events.series({ source, outcome: "quarantined" }),
        unmatched: this.#events.series({ source, outcome: "unmatched" }),
      };
      this.#eventsBySource.set(source, children);
    }
    children[outcome].inc();
  }

  webhookRejected(source: string, check: string): void {
    // Rare (and an attack's signature when frequent): no point binding children ahead.
    this.#rejections.labels(source, check).inc();
  }

  pruned(rows: Readonly<Record<string, number>>): void {
    for (const [table, count] of Object.entries(rows)) if (count > 0) this.#pruned.labels(table).inc(count);
  }

  integration(integrationId: string): IntegrationMetrics {
    const bound = this.#integrations.get(integrationId);
    if (bound) return bound;
    const made = this.#bindIntegration(integrationId);
    this.#integrations.set(integrationId, made);
    return made;
  }

  connection(connectionId: string): ConnectionMetrics {
    const bound = this.#connections.get(connectionId);
    if (bound) return bound;
    const durations = new Map<string, Histogram.Internal<"connection" | "method" | "status_class">>();
    const waits = this.#rateLimitWaits.labels(connectionId);
    const made: ConnectionMetrics = {
      requestFinished: (method, status, seconds) => {
        const key = `${method} ${status === null ? "error" : Math.floor(status / 100)}`;
        let child = durations.get(key);
        if (!child) {
          child = this.#requestDuration.labels(connectionId, methodLabel(method), statusClass(status));
          durations.set(key, child);
        }
        child.observe(seconds);
      },
      rateLimitWait: () => waits.inc(),
    };
    this.#connections.set(connectionId, made);
    return made;
  }

  readRunsFrom(source: RunStateSource): void {
    this.#runSource = source;
    this.#runState = undefined;
  }

  readConnectionsFrom(read: () => Promise<ConnectionStateReading[]>): void {
    this.#readConnections = read;
    this.#connectionState = undefined;
  }

  async webhookRejections(): Promise<Record<string, Record<string, number>>> {
    const bySource: Record<string, Record<string, number>> = {};
    for (const { labels, value } of (await this.#rejections.get()).values) {
      const source = String(labels.source);
      bySource[source] = { ...bySource[source], [String(labels.check)]: value };
    }
    return bySource;
  }

  #bindIntegration(integrationId: string): IntegrationMetrics {
    const ended = {
      succeeded: this.#runsEnded.series({ integration: integrationId, status: "succeeded" }),
      failed: this.#runsEnded.series({ integration: integrationId, status: "failed" }),
      dead: this.#runsEnded.series({ integration: integrationId, status: "dead" }),
    };
    const duration = this.#runDuration.labels(integrationId);
    const toStart = this.#scheduleToStart.labels(integrationId);
    const steps = new Map<string, Record<StepOutcome, CounterSeries>>();
    return {
      runEnded: (status, seconds) => {
        ended[status].inc();
        duration.observe(seconds);
      },
      scheduleToStart: (seconds) => toStart.observe(seconds),
      stepAttempt: (step, outcome) => {
        let children = steps.get(step);
        if (!children) {
          const bind = (outcome: StepOutcome) =>
            this.#stepAttempts.series({ integration: integrationId, step, outcome });
          children = {
            succeeded: bind("succeeded"),
            failed: bind("failed"),
            waited: bind("waited"),
            paused: bind("paused"),
            interrupted: bind("interrupted"),
          };
          steps.set(step, children);
        }
        children[outcome].inc();
      },
    };
  }

  #registerStateGauges(registers: Registry[]): void {
    const metrics = this;
    new Gauge({
      name: "tenon_runs",
      help: "Runs by status, as stored (every worker reads the same table)",
      labelNames: ["status"],
      registers,
      async collect() {
        const state = await metrics.#readRunState();
        if (!state) return;
        for (const status of runStatuses) this.labels(status).set(state.counts[status] ?? 0);
      },
    });
    new Gauge({
      name: "tenon_oldest_queued_run_age_seconds",
      help: "How long the oldest run that is due (queued, retry or timer due, wait over) has waited for a worker; 0 when none",
      registers,
      async collect() {
        const state = await metrics.#readRunState();
        if (state) this.set(state.oldestQueuedAgeSeconds);
      },
    });
    new Gauge({
      name: "tenon_connection_state",
      help: "1 for each connection's current auth state (active, auth_failed), 0 for the others",
      labelNames: ["connection", "state"],
      registers,
      async collect() {
        for (const connection of await metrics.#readConnectionState()) {
          for (const state of connectionStates)
            this.labels(connection.id, state).set(connection.status === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "tenon_circuit_open",
      help: "1 while a connection's circuit is open or half-open (runs wait instead of sending), else 0",
      labelNames: ["connection"],
      registers,
      async collect() {
        for (const connection of await metrics.#readConnectionState()) {
          this.labels(connection.id).set(connection.circuit.status === "closed" ? 0 : 1);
        }
      },
    });
  }

  /** One read per cache period, shared by the gauges of a scrape (and by concurrent scrapes). */
  #readRunState(): Promise<RunState> | undefined {
    const source = this.#runSource;
    if (!source) return undefined;
    const now = performance.now();
    if (!this.#runState || now - this.#runState.at >= this.#stateCacheMs) {
      const reading = readRunState(source);
      // A failed read fails this scrape and is tried again by the next one.
      reading.catch(() => {
        if (this.#runState?.reading === reading) this.#runState = undefined;
      });
      this.#runState = { at: now, reading };
    }
    return this.#runState.reading;
  }

  #readConnectionState(): Promise<ConnectionStateReading[]> {
    const read = this.#readConnections;
    if (!read) return Promise.resolve([]);
    const now = performance.now();
    if (!this.#connectionState || now - this.#connectionState.at >= this.#stateCacheMs) {
      const reading = read();
      reading.catch(() => {
        if (this.#connectionState?.reading === reading) this.#connectionState = undefined;
      });
      this.#connectionState = { at: now, reading };
    }
    return this.#connectionState.reading;
  }
}

interface RunState {
  counts: Partial<Record<RunStatus, number>>;
  oldestQueuedAgeSeconds: number;
}

async function readRunState(source: RunStateSource): Promise<RunState> {
  const [counts, nextDueAt] = await Promise.all([source.countRunsByStatus(), source.nextDueAt()]);
  const now = source.now();
  return { counts, oldestQueuedAgeSeconds: nextDueAt === null || nextDueAt > now ? 0 : (now - nextDueAt) / 1000 };
}

function statusClass(status: number | null): string {
  if (status === null || status < 200 || status > 599) return "error";
  return `${Math.floor(status / 100)}xx`;
}

function methodLabel(method: string): string {
  const upper = method.toUpperCase();
  return knownMethods.has(upper) ? upper : "_OTHER";
}

const noopIntegration: IntegrationMetrics = { runEnded() {}, scheduleToStart() {}, stepAttempt() {} };
const noopConnection: ConnectionMetrics = { requestFinished() {}, rateLimitWait() {} };

function disabledMetrics(): TenonMetrics {
  return {
    enabled: false,
    registry: new Registry(),
    eventReceived() {},
    webhookRejected() {},
    pruned() {},
    integration: () => noopIntegration,
    connection: () => noopConnection,
    readRunsFrom() {},
    readConnectionsFrom() {},
    webhookRejections: async () => ({}),
  };
}
