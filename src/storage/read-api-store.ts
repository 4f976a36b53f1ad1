import type { EventRecord, EventStatus, RunRecord, RunStatus } from "./contract.ts";

/**
 * What the operator's read API (`GET /api/runs`, `/api/events`, `/api/health`) asks of storage. Every query
 * here walks an index in the order it answers (migration 009), and pages go by keyset, never by offset: a page
 * deep in a million runs costs what the first one does, and runs that arrive while someone pages through never
 * shift the pages after the cursor. One implementation serves both backends (`read-api-queries.ts`).
 */
export interface ReadApiStore {
  /** Runs newest first (by creation, then insertion order), after `after` when given. */
  pageRuns(filter: RunPageFilter, after: RunPosition | null, limit: number): Promise<Page<RunRecord, RunPosition>>;
  /** Events newest first (by reception, then id), after `after` when given. */
  pageEvents(
    filter: EventPageFilter,
    after: EventPosition | null,
    limit: number,
  ): Promise<Page<EventRecord, EventPosition>>;
  /** What the health of one integration is judged on; each figure is one bounded index walk. */
  integrationFacts(integrationId: string, now: number, windowMs: number): Promise<IntegrationFacts>;
  /** When the newest event of a source was received, or null if it has none. */
  lastEventAt(source: string): Promise<number | null>;
  /** The newest failed exchange (no answer, or a status ≥ 400) among a connection's last `lookback` exchanges. */
  lastExchangeError(connectionId: string, lookback: number): Promise<ExchangeError | null>;
  /** When each of a connection's newest `lookback` exchanges was sent and what it answered, newest first. */
  recentExchangeOutcomes(connectionId: string, lookback: number): Promise<ExchangeOutcome[]>;
  /**
   * What a connection did to runs: those it holds now (waiting for its rate limit or circuit, paused for its
   * credentials), and its waits, pauses and resumes since `since` (each count stops at `cap`).
   */
  connectionRunActivity(connectionId: string, since: number, cap: number): Promise<ConnectionRunActivity>;
  /** Runs started, failed and dead per bucket of `bucketMs` from `since` to `until` (the dashboard's chart). */
  throughput(since: number, until: number, bucketMs: number): Promise<Throughput>;
}

/**
 * Runs per time bucket. `created` comes from the runs' insertion order (`seq`): the first run created at or
 * after each bucket's start, found with one seek down the (created_at, seq) index per bucket, so a busy day
 * costs as much as a quiet one; it counts the runs inserted, which a retention pruning within the window
 * would not lower, and a gap a rolled-back insert left in PostgreSQL's sequence adds one. `failed` and `dead`
 * are counted exactly, up to `countCap` runs over the whole window (then `capped`): they are the rare ones.
 */
export interface Throughput {
  bucketMs: number;
  buckets: { at: number; created: number; failed: number; dead: number }[];
  capped: boolean;
}

export interface RunPageFilter {
  status?: RunStatus;
  integrationId?: string;
  /**
   * Only runs whose last error contains this text, ignoring case. Not indexed: the page reads the runs of the
   * other filters newest first, testing each, until it is full; the API allows it only with the dead or failed
   * status, so the rows read are at most the dead (or failed) runs.
   */
  errorContains?: string;
  /** Created at or after (epoch ms). */
  since?: number;
  /** Created before (epoch ms). */
  until?: number;
  /** Only these runs (the runs tagged with an entity: a short list, looked up by primary key). */
  runIds?: string[];
}

/** Where a page of runs ended: the next page starts just after it. */
export interface RunPosition {
  createdAt: number;
  seq: number;
}

export interface EventPageFilter {
  status?: EventStatus;
  source?: string;
  /** Only with `source`: a type is a source's own name for what happened. */
  type?: string;
  /** Received at or after (epoch ms). */
  since?: number;
  /** Received before (epoch ms). */
  until?: number;
}

export interface EventPosition {
  receivedAt: number;
  id: string;
}

export interface Page<T, P> {
  items: T[];
  /** The position of the last item when more may follow; null on the last page. */
  next: P | null;
}

/** The unfinished statuses: counted exactly (the backlog), however old. */
export const backlogStatuses = ["queued", "blocked", "running", "retrying", "sleeping", "waiting", "paused"] as const;
export const endedStatuses = ["succeeded", "failed", "dead"] as const;

export interface IntegrationFacts {
  /** Unfinished runs by status, exact. */
  backlog: Partial<Record<(typeof backlogStatuses)[number], number>>;
  /** Runs created in the window that ended, by how they ended; each count stops at `countCap`. */
  ended: Record<(typeof endedStatuses)[number], number>;
  /** true when a count reached the cap (the success rate is then an estimate). */
  capped: boolean;
  /** Durations (finished − started, ms) of the newest runs of the window that succeeded, at most `durationSample`. */
  durationsMs: number[];
  lastSuccess: { at: number; runId: string } | null;
  lastFailure: { at: number; runId: string; status: "failed" | "dead"; error: string | null } | null;
  oldestQueued: { createdAt: number; runId: string } | null;
}

/** Counts above this are reported as this (and flagged): counting a busy hour's runs exactly would walk them all. */
export const countCap = 10_000;
export const durationSample = 1000;

export interface ConnectionRunActivity {
  /** Runs held by the connection now, exact. */
  held: { waiting: number; paused: number };
  /** History entries naming the connection since the window's start, by kind; each stops at the cap. */
  recent: { waits: number; pauses: number; resumes: number; capped: boolean };
  /** The newest wait, however old: which run, when, until when, and why (rate limit, open circuit). */
  lastWait: { runId: string; at: number; until: number | null; reason: string | null } | null;
  /** The newest resume: when, why (new credentials, the circuit closed), and how many runs went back to the queue. */
  lastResume: { at: number; reason: string | null; runs: number } | null;
}

/** One outbound exchange reduced to what health judges: when it was sent and its status (null: no answer). */
export interface ExchangeOutcome {
  at: number;
  status: number | null;
}

export interface ExchangeError {
  at: number;
  status: number | null;
  error: string | null;
  method: string;
  url: string;
}
