import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { RunObserver } from "../observability/run-metrics.ts";
import type { Clock } from "../runtime/clock.ts";
import { LeaseFence } from "../runtime/lease-fence.ts";
import type { Integration, RunContext } from "../sdk/define-integration.ts";
import type { ClaimedRun, ClaimInput, RunTransition, Storage } from "../storage/contract.ts";
import { type ExecutionDeps, executeRun } from "./execute-run.ts";

export interface WorkerOptions {
  /** Runs executed at once by this worker. Default 100. */
  concurrency?: number;
  /** How long a claim lasts without a heartbeat. Default 30 s. */
  leaseMs?: number;
  /** Longest wait between looks for due runs when nothing wakes the worker. Default 1 s. */
  pollIntervalMs?: number;
  /** Most runs claimed in one query. Default 100. */
  claimBatch?: number;
  /**
   * Interruptions of a run's worker (crash, kill, out of memory, a stall past the lease) in a row, without
   * the run completing a step or ending an attempt in between, after which the run is a suspect: it is
   * run alone, and if its process dies that many times again while it runs alone, it ends dead as the cause.
   * Default 5.
   */
  maxCrashes?: number;
}

/** Who this worker is, in a run's history of claims: the host and process. */
const claimedBy = `${hostname()} pid ${process.pid}`;

interface WorkerDeps {
  storage: Storage;
  integrations: Map<string, Integration>;
  clock: Clock;
  random: () => number;
  logger: Logger;
  transition: (t: RunTransition) => Promise<boolean>;
  connection: RunContext<unknown>["connection"];
  tag: ExecutionDeps["tag"];
  /** Measures executions when metrics are on. */
  runObserver: RunObserver | undefined;
}

/** One execution of a claimed run in this worker, with its own view of the lease. */
interface Execution {
  run: ClaimedRun;
  fence: LeaseFence;
  done: Promise<void>;
}

/** Attempts of one heartbeat before it waits for the next beat (a lapsing lease fences the runs meanwhile). */
const heartbeatAttempts = 3;

/**
 * Claims due runs with a lease and executes them. Woken at once by local
 * enqueues and PostgreSQL notifications; otherwise it looks again when the next
 * run is due or after the poll interval. Heartbeats keep leases alive; a sweep
 * requeues runs whose worker died.
 *
 * Timing (docs/guarantees.md, "Leases and fencing"): a heartbeat every lease/3 writes
 * `now + lease`; each execution acts only until that confirmed lease minus a margin of lease/4,
 * so a healthy worker keeps 5/12 of a lease of slack and a stalled one stops before anyone
 * else may take over.
 */
export class Worker {
  readonly #deps: WorkerDeps;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollIntervalMs: number;
  readonly #claimBatch: number;
  readonly #fenceMarginMs: number;
  readonly #maxCrashes: number;
  readonly #executionDeps: ExecutionDeps;
  /** By claimed run, not by id: a stale and a current execution of one run must not share an entry. */
  readonly #inFlight = new Map<ClaimedRun, Execution>();
  #beating = false;
  /** A suspect is due: nothing more is claimed until the runs in flight are done, then it runs alone. */
  #suspectDue = false;
  /** The suspect running alone right now. */
  #alone: ClaimedRun | undefined;
  /** performance.now() of the next look for due suspects: at most one a second. */
  #nextSuspectLook = 0;
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
    this.#fenceMarginMs = Math.floor(this.#leaseMs / 4);
    this.#maxCrashes = options.maxCrashes ?? 5;
    this.#executionDeps = { ...deps, maxCrashes: this.#maxCrashes };
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
      const holdingBack = this.#alone !== undefined || (this.#suspectDue && this.#inFlight.size > 0);
      if (free <= 0 || holdingBack) {
        // Full, or clearing the way for a suspect: a finishing run wakes us. Clearing the flag first matters:
        // sleeping on a set flag returns at once, and this loop would spin on microtasks and starve all I/O.
        this.#woken = false;
        await this.#sleep(this.#pollIntervalMs);
        continue;
      }
      this.#woken = false;
      if (this.#suspectDue) {
        await this.#runSuspectAlone();
        continue;
      }
      const limit = Math.min(free, this.#claimBatch);
      const claim = await this.#claim("runs", (input) => this.#deps.storage.claimDueRuns({ ...input, limit }));
      if (!claim) continue;
      for (const run of claim.claimed) this.#execute(run, this.#fenceFor(claim.leaseUntil));
      await this.#lookForSuspects();
      if (claim.claimed.length < limit && !this.#suspectDue) await this.#sleep(await this.#idleDelay());
    }
  }

  /** Claims through `claim` under a fresh lease; undefined, after a pause, when storage failed. */
  async #claim<T>(
    what: string,
    claim: (input: ClaimInput & { maxCrashes: number }) => Promise<T>,
  ): Promise<{ claimed: T; leaseUntil: number } | undefined> {
    const now = this.#deps.clock.now();
    const leaseUntil = now + this.#leaseMs;
    try {
      const claimed = await claim({
        leaseToken: randomUUID(),
        now,
        leaseUntil,
        maxCrashes: this.#maxCrashes,
        claimedBy,
      });
      return { claimed, leaseUntil };
    } catch (error) {
      this.#deps.logger.error({ err: (error as Error).message }, `claiming ${what} failed; retrying in 1 s`);
      await this.#sleep(1000);
      return undefined;
    }
  }

  #fenceFor(leaseUntil: number): LeaseFence {
    return new LeaseFence(this.#deps.clock, leaseUntil - this.#fenceMarginMs);
  }

  async #lookForSuspects(): Promise<void> {
    if (performance.now() < this.#nextSuspectLook) return;
    this.#nextSuspectLook = performance.now() + 1000;
    try {
      this.#suspectDue = await this.#deps.storage.hasDueSuspect(this.#deps.clock.now(), this.#maxCrashes);
    } catch (error) {
      this.#deps.logger.error({ err: (error as Error).message }, "looking for suspect runs failed");
    }
  }

  /**
   * Runs one suspect with nothing else in flight in this process, so that a death of the process now is
   * laid at its door alone (after maxCrashes of them it ends dead); if it gets through, it is cleared.
   */
  async #runSuspectAlone(): Promise<void> {
    const claim = await this.#claim("a suspect run", (input) => this.#deps.storage.claimSuspectRun(input));
    if (!claim) return;
    this.#suspectDue = false;
    const run = claim.claimed;
    if (!run) return;
    this.#alone = run;
    this.#deps.logger.warn(
      { runId: run.id, integrationId: run.integrationId, crashes: run.crashes },
      "running a suspect alone: its worker stopped while it was in flight, again and again without progress",
    );
    this.#execute(run, this.#fenceFor(claim.leaseUntil));
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
        // Woken once: every finishing run wakes the worker, and later calls need not touch the timer again.
        this.#wake = () => {};
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #execute(run: ClaimedRun, fence: LeaseFence): void {
    this.#deps.runObserver?.begin(run);
    // In the map before the execution starts: its end removes it.
    const execution: Execution = { run, fence, done: Promise.resolve() };
    this.#inFlight.set(run, execution);
    execution.done = this.#executeToEnd(run, fence);
  }

  async #executeToEnd(run: ClaimedRun, fence: LeaseFence): Promise<void> {
    try {
      const integration = this.#deps.integrations.get(run.integrationId);
      if (integration) await executeRun(run, integration, fence, this.#executionDeps);
      else await this.#failUnknownIntegration(run);
    } catch (error) {
      // Storage failed while recording the outcome: the lease will expire and another attempt resumes the run.
      this.#deps.logger.error({ runId: run.id, err: (error as Error).message }, "recording the run's outcome failed");
    } finally {
      fence.close();
      this.#deps.runObserver?.end(run);
      this.#inFlight.delete(run);
      if (this.#alone === run) this.#alone = undefined;
      this.wake();
    }
  }

  async #failUnknownIntegration(run: ClaimedRun): Promise<void> {
    const now = this.#deps.clock.now();
    await this.#executionDeps.transition({
      kind: "finishRunWithError",
      runId: run.id,
      leaseToken: run.leaseToken,
      status: "failed",
      error: `no integration "${run.integrationId}" is loaded in this worker; deploy it and replay the run`,
      stepFailure: null,
      attempt: run.failures + 1,
      attemptStartedAt: now,
      now,
    });
  }

  /**
   * Renews the leases of the runs in flight and moves each one's fence to the lease just written. A run
   * the storage did not renew keeps the fence it had: if its lease was lost, the fence lapses on time.
   * A failed beat is tried again at once, a few times, before it waits for the next one.
   */
  async #heartbeat(): Promise<void> {
    if (this.#beating) return;
    const executions = [...this.#inFlight.values()];
    const tokens = [...new Set(executions.map((e) => e.run.leaseToken))];
    if (tokens.length === 0) return;
    this.#beating = true;
    try {
      // Beats go on while a graceful stop lets the runs in flight finish; stop() clears the timer at the end.
      for (let attempt = 1; attempt <= heartbeatAttempts; attempt++) {
        const leaseUntil = this.#deps.clock.now() + this.#leaseMs;
        try {
          const renewed = await this.#deps.storage.extendLeases(tokens, leaseUntil);
          const held = new Set(renewed.map((r) => `${r.runId}\u0000${r.leaseToken}`));
          for (const e of executions) {
            if (held.has(`${e.run.id}\u0000${e.run.leaseToken}`)) e.fence.confirm(leaseUntil - this.#fenceMarginMs);
          }
          return;
        } catch (error) {
          this.#deps.logger.error({ err: (error as Error).message, attempt }, "extending leases failed");
        }
      }
    } finally {
      this.#beating = false;
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
    await Promise.race([Promise.all([...this.#inFlight.values()].map((e) => e.done)), deadline]);
    clearTimeout(timer);
    const leftovers = [...this.#inFlight.values()];
    await Promise.all(
      leftovers.map((e) =>
        this.#deps
          .transition({
            kind: "releaseRun",
            runId: e.run.id,
            leaseToken: e.run.leaseToken,
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
