import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Integration, RunContext } from "../sdk/define-integration.ts";
import type { ClaimedRun, RunTransition, Storage } from "../storage/contract.ts";
import type { Clock } from "./clock.ts";
import { executeRun } from "./execute-run.ts";

export interface WorkerOptions {
  /** Runs executed at once by this worker. Default 100. */
  concurrency?: number;
  /** How long a claim lasts without a heartbeat. Default 30 s. */
  leaseMs?: number;
  /** Longest wait between looks for due runs when nothing wakes the worker. Default 1 s. */
  pollIntervalMs?: number;
  /** Most runs claimed in one query. Default 100. */
  claimBatch?: number;
}

interface WorkerDeps {
  storage: Storage;
  integrations: Map<string, Integration>;
  clock: Clock;
  random: () => number;
  logger: Logger;
  transition: (t: RunTransition) => Promise<boolean>;
  connection: RunContext<unknown>["connection"];
}

/**
 * Claims due runs with a lease and executes them. Woken at once by local
 * enqueues and PostgreSQL notifications; otherwise it looks again when the next
 * run is due or after the poll interval. Heartbeats keep leases alive; a sweep
 * requeues runs whose worker died.
 */
export class Worker {
  readonly #deps: WorkerDeps;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollIntervalMs: number;
  readonly #claimBatch: number;
  readonly #inFlight = new Map<string, { run: ClaimedRun; done: Promise<void> }>();
  #stopping = false;
  #woken = false;
  #wake: () => void = () => {};
  #loop: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];

  constructor(deps: WorkerDeps, options: WorkerOptions = {}) {
    this.#deps = deps;
    this.#concurrency = options.concurrency ?? 100;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#claimBatch = options.claimBatch ?? 100;
  }

  start(): void {
    this.#timers.push(
      setInterval(() => void this.#heartbeat(), Math.max(10, Math.floor(this.#leaseMs / 3))),
      setInterval(() => void this.#expireLeases(), Math.max(10, Math.floor(this.#leaseMs / 2))),
    );
    this.#loop = this.#run();
  }

  /** Look for due runs now (new work was enqueued, or a test advanced the clock). */
  wake(): void {
    this.#woken = true;
    this.#wake();
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const free = this.#concurrency - this.#inFlight.size;
      if (free <= 0) {
        // Full: a finishing run wakes us. Clearing the flag first matters: sleeping on a set flag
        // returns at once, and this loop would spin on microtasks and starve all I/O.
        this.#woken = false;
        await this.#sleep(this.#pollIntervalMs);
        continue;
      }
      this.#woken = false;
      const limit = Math.min(free, this.#claimBatch);
      let claimed: ClaimedRun[];
      try {
        const now = this.#deps.clock.now();
        claimed = await this.#deps.storage.claimDueRuns({
          leaseToken: randomUUID(),
          limit,
          now,
          leaseUntil: now + this.#leaseMs,
        });
      } catch (error) {
        this.#deps.logger.error({ err: (error as Error).message }, "claiming runs failed; retrying in 1 s");
        await this.#sleep(1000);
        continue;
      }
      for (const run of claimed) this.#execute(run);
      if (claimed.length < limit) await this.#sleep(await this.#idleDelay());
    }
  }

  async #idleDelay(): Promise<number> {
    try {
      const next = await this.#deps.storage.nextDueAt();
      if (next === null) return this.#pollIntervalMs;
      return Math.min(this.#pollIntervalMs, Math.max(0, next - this.#deps.clock.now()));
    } catch {
      return this.#pollIntervalMs;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#woken || this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #execute(run: ClaimedRun): void {
    const integration = this.#deps.integrations.get(run.integrationId);
    const done = (async () => {
      if (!integration) {
        await this.#deps.transition({
          kind: "finishRunWithError",
          runId: run.id,
          leaseToken: run.leaseToken,
          status: "failed",
          error: `no integration "${run.integrationId}" is loaded in this worker; deploy it and replay the run`,
          stepFailure: null,
          now: this.#deps.clock.now(),
        });
        return;
      }
      await executeRun(run, integration, this.#deps);
    })()
      .catch((error) => {
        // Storage failed while recording the outcome: the lease will expire and another attempt resumes the run.
        this.#deps.logger.error({ runId: run.id, err: (error as Error).message }, "recording the run's outcome failed");
      })
      .finally(() => {
        this.#inFlight.delete(run.id);
        this.wake();
      });
    this.#inFlight.set(run.id, { run, done });
  }

  async #heartbeat(): Promise<void> {
    const tokens = [...new Set([...this.#inFlight.values()].map((f) => f.run.leaseToken))];
    if (tokens.length === 0) return;
    try {
      await this.#deps.storage.extendLeases(tokens, this.#deps.clock.now() + this.#leaseMs);
    } catch (error) {
      this.#deps.logger.error({ err: (error as Error).message }, "extending leases failed");
    }
  }

  async #expireLeases(): Promise<void> {
    try {
      const requeued = await this.#deps.storage.expireLeases(this.#deps.clock.now());
      if (requeued > 0) {
        this.#deps.logger.warn({ requeued }, "requeued runs whose worker stopped renewing its lease");
        this.wake();
      }
    } catch (error) {
      this.#deps.logger.error({ err: (error as Error).message }, "expiring leases failed");
    }
  }

  /**
   * Graceful stop: claim nothing more, let in-flight runs finish until the
   * deadline, then release the rest (their journal is kept; they resume elsewhere).
   */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([Promise.all([...this.#inFlight.values()].map((f) => f.done)), deadline]);
    clearTimeout(timer);
    const leftovers = [...this.#inFlight.values()];
    await Promise.all(
      leftovers.map((f) =>
        this.#deps
          .transition({
            kind: "releaseRun",
            runId: f.run.id,
            leaseToken: f.run.leaseToken,
            now: this.#deps.clock.now(),
          })
          .catch(() => false),
      ),
    );
    if (leftovers.length > 0)
      this.#deps.logger.warn({ released: leftovers.length }, "released runs still in flight at the shutdown deadline");
    for (const t of this.#timers) clearInterval(t);
  }
}
