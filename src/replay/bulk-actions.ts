import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Engine } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { newId } from "../runtime/ids.ts";
import type { BulkActionRecord } from "../storage/bulk-action-store.ts";
import type { ReplayCursor } from "../storage/contract.ts";
import { type ApiRole, replayActor } from "../storage/operator-store.ts";
import {
  type BulkSelection,
  describeSelection,
  parseStoredCursor,
  parseStoredSelection,
  storedSelection,
} from "./bulk-selection.ts";
import { type EventCursor, replayEventSelection } from "./replay-event-selection.ts";
import { replayRunSelection } from "./replay-run-selection.ts";
import { ReplayTally } from "./replay-tally.ts";

export interface BulkActionsOptions {
  engine: Engine;
  /** To parse quarantined webhooks' bodies again, as a replay of one event does. */
  sources: ReadonlyMap<string, WebhookSource>;
  logger: Logger;
  /**
   * How long a job stays this process's without a heartbeat (renewed every third of it, and after each page).
   * A job whose process died reads `interrupted` this long after its last heartbeat at most. Default 30 s.
   */
  leaseMs?: number;
}

/** Who started a job: the token's (or session's) name and role, as the operator log names them. */
export interface BulkActor {
  name: string;
  role: ApiRole | null;
}

interface ActiveJob {
  controller: AbortController;
  /** Set when the stop is this process's own (shutting down): the job is released, to be resumed elsewhere. */
  stopping: boolean;
  done: Promise<void>;
}

const defaultBulkLeaseMs = 30_000;

/**
 * Bulk replays as jobs (`POST /api/runs/replay`, `POST /api/events/replay`): the job's row is stored first, with
 * its fixed selection and how many it holds, then the replay works through it a page at a time in this process,
 * writing its counts and cursor after each page and renewing its lease as it goes. Any worker reads the same
 * progress from storage. A process that stops gracefully releases its jobs at once; one that dies stops
 * renewing; either way the job reads `interrupted`, and `takeOver` then `begin` go on from its cursor and counts.
 * Each replay is a conditional transition in storage (see replayRunsIn, requalifyEvent), so neither a resumed job
 * nor two jobs working at once over the same runs or events replay one twice. The operator log gets the outcome when a job ends.
 */
export class BulkActions {
  readonly #options: BulkActionsOptions;
  readonly #leaseMs: number;
  readonly #owner = `${hostname()} pid ${process.pid} ${randomUUID().slice(0, 8)}`;
  readonly #active = new Map<string, ActiveJob>();
  #stopped = false;

  constructor(options: BulkActionsOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? defaultBulkLeaseMs;
  }

  /** How many runs or events the selection holds now: a preview, which changes nothing. */
  async count(selection: BulkSelection): Promise<number> {
    const storage = this.#options.engine.storage;
    return selection.kind === "replay-runs"
      ? storage.countRunsToReplay(selection.runs)
      : storage.countEventsToReplay(selection.events);
  }

  /**
   * Stores the job, held by this process: `begin` starts it. Two calls, so that the API can answer (and log the
   * start) before the job can end and log its outcome. A job never begun reads interrupted once its lease lapses.
   */
  async create(selection: BulkSelection, actor: BulkActor): Promise<BulkActionRecord> {
    const store = this.#options.engine.storage.bulkActions;
    const now = Date.now();
    const id = newId();
    await store.createBulkAction({
      id,
      kind: selection.kind,
      selectionJson: storedSelection(selection),
      actor: actor.name,
      actorRole: actor.role,
      total: await this.count(selection),
      owner: this.#owner,
      leaseUntil: now + this.#leaseMs,
      now,
    });
    const job = await store.getBulkAction(id, now);
    if (!job) throw new Error(`the bulk action ${id} was stored but cannot be read back`);
    return job;
  }

  /** Works through a job `create` stored or `takeOver` took, in the background, from its cursor and counts. */
  begin(job: BulkActionRecord): void {
    if (this.#stopped) {
      // Answered as the process was stopping: let it go at once, to be resumed by a process that runs on.
      this.#options.engine.storage.bulkActions
        .releaseBulkAction({ id: job.id, owner: this.#owner, now: Date.now() })
        .catch((error: unknown) =>
          this.#options.logger.warn(
            { err: (error as Error).message, bulkAction: job.id },
            "a bulk action answered while stopping was not released; it reads interrupted once its lease lapses",
          ),
        );
      return;
    }
    this.#run(job, ReplayTally.from(job));
  }

  /**
   * Takes an interrupted job over for this process (`begin` goes on from where it stopped); null when the job is
   * not interrupted (unknown, still running elsewhere, or ended).
   */
  async takeOver(id: string): Promise<BulkActionRecord | null> {
    const now = Date.now();
    return this.#options.engine.storage.bulkActions.claimInterruptedBulkAction({
      id,
      owner: this.#owner,
      leaseUntil: now + this.#leaseMs,
      now,
    });
  }

  /** Stops this process's jobs after the page (or event) in flight and releases them: they read interrupted. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const jobs = [...this.#active.values()];
    for (const job of jobs) {
      job.stopping = true;
      job.controller.abort();
    }
    await Promise.all(jobs.map((job) => job.done));
  }

  #run(job: BulkActionRecord, tally: ReplayTally): void {
    const active: ActiveJob = { controller: new AbortController(), stopping: false, done: Promise.resolve() };
    active.done = this.#work(job, tally, active)
      .catch((error: unknown) =>
        this.#options.logger.error(
          { err: (error as Error).message, bulkAction: job.id },
          "a bulk action could not run",
        ),
      )
      .finally(() => this.#active.delete(job.id));
    this.#active.set(job.id, active);
  }

  async #work(job: BulkActionRecord, tally: ReplayTally, active: ActiveJob): Promise<void> {
    const { engine, logger } = this.#options;
    const store = engine.storage.bulkActions;
    const owner = this.#owner;
    const { signal } = active.controller;
    const selection = parseStoredSelection(job.kind, job.selectionJson);
    let cursorJson = job.cursorJson;
    let lost = false;
    const keep = (held: boolean) => {
      if (held) return;
      // Another process took the job over (this one's lease lapsed): it goes on from the stored cursor.
      lost = true;
      active.controller.abort();
    };
    const heartbeat = setInterval(() => {
      const now = Date.now();
      store
        .renewBulkActionLease({ id: job.id, owner, leaseUntil: now + this.#leaseMs, now })
        .then(keep, (error) =>
          logger.warn(
            { err: (error as Error).message, bulkAction: job.id },
            "a bulk action's lease could not be renewed",
          ),
        );
    }, this.#leaseMs / 3);
    heartbeat.unref();
    const onPage = async (done: ReplayTally, cursor: ReplayCursor | EventCursor) => {
      cursorJson = JSON.stringify(cursor);
      const now = Date.now();
      keep(
        await store.recordBulkProgress({
          id: job.id,
          owner,
          counts: done.counts(),
          cursorJson,
          leaseUntil: now + this.#leaseMs,
          now,
        }),
      );
    };
    let outcome: { state: "finished" | "failed"; error: string | null };
    try {
      const after = parseStoredCursor(cursorJson);
      if (selection.kind === "replay-runs") {
        await replayRunSelection(engine.storage, selection.runs, {
          actor: replayActor("api", job.actor),
          ...(selection.rps === undefined ? {} : { rps: selection.rps }),
          signal,
          tally,
          ...(after === undefined ? {} : { after: after as ReplayCursor }),
          onPage: async (done, cursor) => {
            // The worker takes the page's runs at once, while the next page is read.
            engine.wake();
            await onPage(done, cursor);
          },
        });
      } else {
        await replayEventSelection(engine, this.#options.sources, selection.events, {
          signal,
          tally,
          ...(after === undefined ? {} : { after: after as EventCursor }),
          onPage,
        });
      }
      outcome = { state: "finished", error: null };
    } catch (error) {
      outcome = { state: "failed", error: (error as Error).message };
      logger.error({ err: outcome.error, bulkAction: job.id }, "a bulk action stopped on an error");
    } finally {
      clearInterval(heartbeat);
    }
    if (lost) return;
    if (signal.aborted && active.stopping && outcome.state === "finished") {
      await store
        .releaseBulkAction({ id: job.id, owner, now: Date.now() })
        .catch((error: unknown) =>
          logger.warn({ err: (error as Error).message, bulkAction: job.id }, "a stopped bulk action was not released"),
        );
      return;
    }
    await this.#end(job, selection, tally, cursorJson, outcome);
  }

  async #end(
    job: BulkActionRecord,
    selection: BulkSelection,
    tally: ReplayTally,
    cursorJson: string | null,
    outcome: { state: "finished" | "failed"; error: string | null },
  ): Promise<void> {
    const { engine, logger } = this.#options;
    const now = Date.now();
    try {
      const ended = await engine.storage.bulkActions.finishBulkAction({
        id: job.id,
        owner: this.#owner,
        counts: tally.counts(),
        cursorJson,
        state: outcome.state,
        error: outcome.error,
        now,
      });
      if (!ended) return;
      await engine.storage.operatorAccess.recordOperatorAction({
        at: now,
        actor: job.actor,
        role: job.actorRole,
        via: "api",
        action: "bulk action ended",
        target: job.id,
        status: null,
        ip: null,
        detail: `${describeSelection(selection)}: ${outcome.state}, ${tally.summary()} of ${job.total}${outcome.error === null ? "" : `; ${outcome.error}`}`,
      });
    } catch (error) {
      // Its lease lapses: the job reads interrupted, and a resume finishes what is left (nothing, or little).
      logger.error({ err: (error as Error).message, bulkAction: job.id }, "a bulk action's end could not be stored");
    }
  }
}
