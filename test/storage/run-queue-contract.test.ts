import { describe, expect, it } from "vitest";
import type { NewRun, RunStatus, RunTransition, Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";

/**
 * The run queue's contract, transition by transition (src/storage/transitions/): from which statuses each applies,
 * what it changes, and that a transition of a claimed run applies only under the claim's current lease token.
 */
const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const lease = "lease-a";
const claimant = "host-a pid 1";

function run(id: string, key: string | null = null, limit: number | null = null): NewRun {
  return { id, integrationId: "billing", concurrencyKey: key, concurrencyLimit: limit };
}

async function enqueue(storage: Storage, runs: NewRun[], at = t0): Promise<void> {
  for (const r of runs) {
    await storage.acceptEvents([
      {
        id: `event-of-${r.id}`,
        source: "shop",
        type: "order.paid",
        dedupKey: null,
        payloadJson: "{}",
        receivedAt: at,
        runs: [r],
      },
    ]);
  }
}

async function claim(
  storage: Storage,
  now: number,
  leaseToken = lease,
  limit = 10,
  leaseMs = 30_000,
): Promise<string[]> {
  const claimed = await storage.claimDueRuns({
    leaseToken,
    limit,
    now,
    leaseUntil: now + leaseMs,
    claimedBy: claimant,
  });
  return claimed.map((r) => r.id);
}

async function status(storage: Storage, runId: string): Promise<RunStatus | undefined> {
  return (await storage.getRun(runId))?.status;
}

/** Everything a transition may write about a run: its row, its journal, its history. */
async function stateOf(storage: Storage, runId: string) {
  return {
    run: await storage.getRun(runId),
    steps: await storage.listSteps(runId),
    history: await storage.listRunHistory(runId),
  };
}

const failure = { name: "charge", error: 'step "charge": 503' };

/** Each transition a worker applies to a run it holds, for `runId` under `leaseToken` at `now`. */
const leasedTransitions: {
  [K in RunTransition["kind"]]: (runId: string, leaseToken: string, now: number) => Extract<RunTransition, { kind: K }>;
} = {
  recordStep: (runId, leaseToken, now) => ({
    kind: "recordStep",
    runId,
    leaseToken,
    name: "one",
    outputJson: "1",
    startedAt: now - 5,
    now,
  }),
  completeRun: (runId, leaseToken, now) => ({ kind: "completeRun", runId, leaseToken, outputJson: '"done"', now }),
  retryRun: (runId, leaseToken, now) => ({
    kind: "retryRun",
    runId,
    leaseToken,
    availableAt: now + 1000,
    error: failure.error,
    stepFailure: failure,
    attempt: 1,
    attemptStartedAt: now - 5,
    now,
  }),
  finishRunWithError: (runId, leaseToken, now) => ({
    kind: "finishRunWithError",
    runId,
    leaseToken,
    status: "dead",
    error: failure.error,
    stepFailure: failure,
    attempt: 3,
    attemptStartedAt: now - 5,
    now,
  }),
  sleepRun: (runId, leaseToken, now) => ({ kind: "sleepRun", runId, leaseToken, name: "nap", wakeAt: now + 5000, now }),
  releaseRun: (runId, leaseToken, now) => ({ kind: "releaseRun", runId, leaseToken, now }),
  interruptRun: (runId, leaseToken, now) => ({ kind: "interruptRun", runId, leaseToken, reason: "fenced", now }),
  waitRun: (runId, leaseToken, now) => ({
    kind: "waitRun",
    runId,
    leaseToken,
    connectionId: "crm",
    availableAt: now + 2000,
    reason: "circuit open",
    now,
  }),
  pauseRun: (runId, leaseToken, now) => ({
    kind: "pauseRun",
    runId,
    leaseToken,
    connectionId: "crm",
    reason: "401 after refresh",
    now,
  }),
};
const kinds = Object.keys(leasedTransitions) as RunTransition["kind"][];

describe.each(backends)("the run queue's contract ($name)", (backend) => {
  const t = useTestStorage(backend);

  async function ready(runs: NewRun[] = [run("r1")]): Promise<Storage> {
    await t.storage.migrate();
    await enqueue(t.storage, runs);
    return t.storage;
  }

  async function apply(transition: RunTransition): Promise<boolean> {
    const [applied] = await t.storage.applyTransitions([transition]);
    return applied === true;
  }

  describe("lease-token fencing", () => {
    it.each(kinds)("%s under a stale token changes nothing and reports that it did not apply", async (kind) => {
      const storage = await ready();
      await storage.connections.markAuthFailed("crm", "rejected", t0);
      expect(await claim(storage, t0)).toEqual(["r1"]);
      const before = await stateOf(storage, "r1");

      expect(await apply(leasedTransitions[kind]("r1", "stale-token", t0 + 10))).toBe(false);
      expect(await stateOf(storage, "r1")).toEqual(before);
    });

    it.each(kinds)("%s of a run that is not running changes nothing, even with its last token", async (kind) => {
      const storage = await ready();
      await storage.connections.markAuthFailed("crm", "rejected", t0);
      await claim(storage, t0);
      expect(await apply(leasedTransitions.releaseRun("r1", lease, t0 + 1))).toBe(true);
      const before = await stateOf(storage, "r1");

      expect(await apply(leasedTransitions[kind]("r1", lease, t0 + 10))).toBe(false);
      expect(await stateOf(storage, "r1")).toEqual(before);
    });

    it("a stale and a current execution of one run in one batch: only the holder's writes apply", async () => {
      const storage = await ready();
      await claim(storage, t0, "old", 10, 1);
      await apply(leasedTransitions.interruptRun("r1", "old", t0 + 1));
      await claim(storage, t0 + 2, "new");

      const outcomes = await storage.applyTransitions([
        { ...leasedTransitions.recordStep("r1", "old", t0 + 3), name: "stale" },
        leasedTransitions.recordStep("r1", "new", t0 + 3),
        leasedTransitions.completeRun("r1", "old", t0 + 4),
      ]);
      expect(outcomes).toEqual([false, true, false]);
      expect((await storage.listSteps("r1")).map((s) => s.name)).toEqual(["one"]);
      expect(await status(storage, "r1")).toBe("running");
    });

    it("extendLeases pushes only the leases still held under the given tokens", async () => {
      const storage = await ready([run("r1"), run("r2")]);
      await claim(storage, t0, "a", 1);
      await claim(storage, t0, "b", 1);
      await apply(leasedTransitions.completeRun("r2", "b", t0 + 1));

      expect(await storage.extendLeases(["a", "b", "unknown"], t0 + 60_000)).toEqual([
        { runId: "r1", leaseToken: "a" },
      ]);
    });
  });

  describe("claimDueRuns and claimSuspectRun: queued | retrying | sleeping | waiting → running", () => {
    it("leases due runs oldest first, up to the limit, and records the first claim in the run row", async () => {
      const storage = await ready();
      await enqueue(storage, [run("r2")], t0 + 1);
      await enqueue(storage, [run("later")], t0 + 1000);

      const claimed = await storage.claimDueRuns({ leaseToken: lease, limit: 1, now: t0 + 10, leaseUntil: t0 + 500 });
      expect(claimed.map((r) => [r.id, r.firstClaim, r.leaseToken, r.journal])).toEqual([["r1", true, lease, []]]);
      expect(claimed[0]?.event).toMatchObject({ id: "event-of-r1", type: "order.paid", payloadJson: "{}" });
      expect(await claim(storage, t0 + 20)).toEqual(["r2"]);
      expect(await storage.getRun("r1")).toMatchObject({ status: "running", startedAt: t0 + 10, claimedBy: null });
      expect(await storage.getRun("r2")).toMatchObject({ status: "running", startedAt: t0 + 20, claimedBy: claimant });
      expect(await status(storage, "later")).toBe("queued");
      expect(await storage.listRunHistory("r1")).toEqual([]);
    });

    it("claims retrying, sleeping and waiting runs once due, with their journal; a later claim is in the history", async () => {
      const storage = await ready([run("retrying"), run("sleeping"), run("waiting")]);
      await claim(storage, t0);
      await storage.applyTransitions([
        leasedTransitions.retryRun("retrying", lease, t0 + 10),
        leasedTransitions.sleepRun("sleeping", lease, t0 + 10),
        leasedTransitions.waitRun("waiting", lease, t0 + 10),
      ]);
      expect(await claim(storage, t0 + 999)).toEqual([]);
      expect(await claim(storage, t0 + 1010)).toEqual(["retrying"]);
      expect(await claim(storage, t0 + 2010)).toEqual(["waiting"]);
      expect(await storage.getRun("waiting")).toMatchObject({ status: "running", waitingOn: null });
      const [sleeper] = await storage.claimDueRuns({
        leaseToken: "l2",
        limit: 10,
        now: t0 + 5010,
        leaseUntil: t0 + 9000,
      });
      expect(sleeper).toMatchObject({ id: "sleeping", firstClaim: false });
      expect(sleeper?.journal).toEqual([
        {
          name: "nap",
          status: "completed",
          outputJson: JSON.stringify({ sleepUntil: t0 + 5010 }),
          error: null,
          failures: 0,
        },
      ]);
      expect(await storage.listRunHistory("sleeping")).toContainEqual(
        expect.objectContaining({ kind: "claim", at: t0 + 5010 }),
      );
    });

    it("never claims a running, blocked, paused or finished run", async () => {
      const storage = await ready([
        run("done"),
        run("paused"),
        run("held"),
        run("first", "k", 1),
        run("blocked", "k", 1),
      ]);
      await storage.connections.markAuthFailed("crm", "rejected", t0);
      await claim(storage, t0, lease, 3);
      await storage.applyTransitions([
        leasedTransitions.completeRun("done", lease, t0 + 1),
        leasedTransitions.pauseRun("paused", lease, t0 + 1),
      ]);
      expect(await claim(storage, t0 + 60_000, "other")).toEqual(["first"]);
      expect(await status(storage, "held")).toBe("running");
      expect(await status(storage, "blocked")).toBe("blocked");
      expect(await claim(storage, t0 + 70_000, "third")).toEqual([]);
    });

    it("two workers claiming at once never lease one run twice", async () => {
      const storage = await ready([]);
      const ids = Array.from({ length: 60 }, (_, i) => `r${String(i).padStart(2, "0")}`);
      await enqueue(
        storage,
        ids.map((id) => run(id)),
      );
      const other = t.db.open();
      try {
        await other.migrate();
        const drain = async (worker: Storage, name: string) => {
          const claimed: string[] = [];
          for (let round = 0; ; round++) {
            const batch = await worker.claimDueRuns({
              leaseToken: `${name}-${round}`,
              limit: 7,
              now: t0,
              leaseUntil: t0 + 9000,
            });
            if (batch.length === 0) return claimed;
            claimed.push(...batch.map((r) => r.id));
          }
        };
        const [a, b] = await Promise.all([drain(storage, "a"), drain(other, "b")]);
        expect([...a, ...b].sort()).toEqual(ids);
      } finally {
        await other.close();
      }
    });

    it("a suspect (crashes at the limit) is claimed only by claimSuspectRun, alone", async () => {
      const storage = await ready([run("suspect"), run("healthy")]);
      for (let i = 0; i < 2; i++) {
        await storage.claimDueRuns({ leaseToken: `l${i}`, limit: 1, now: t0 + i, leaseUntil: t0 + i });
        await apply(leasedTransitions.interruptRun("suspect", `l${i}`, t0 + i));
      }
      expect(await storage.getRun("suspect")).toMatchObject({ status: "queued", crashes: 2 });
      expect(await storage.hasDueSuspect(t0 + 10, 2)).toBe(true);

      const input = { leaseToken: "x", now: t0 + 10, leaseUntil: t0 + 9000, maxCrashes: 2 };
      expect((await storage.claimDueRuns({ ...input, limit: 10 })).map((r) => r.id)).toEqual(["healthy"]);
      expect(await storage.claimSuspectRun({ ...input, leaseToken: "y" })).toMatchObject({ id: "suspect", crashes: 2 });
      expect(await storage.claimSuspectRun({ ...input, leaseToken: "z" })).toBeNull();
      expect(await storage.hasDueSuspect(t0 + 10, 2)).toBe(false);
    });
  });

  describe("transitions of a claimed run", () => {
    it("recordStep journals the step; the run stays running under its lease", async () => {
      const storage = await ready();
      await claim(storage, t0);
      expect(await apply(leasedTransitions.recordStep("r1", lease, t0 + 10))).toBe(true);
      expect(await storage.listSteps("r1")).toEqual([
        expect.objectContaining({
          name: "one",
          status: "completed",
          outputJson: "1",
          startedAt: t0 + 5,
          updatedAt: t0 + 10,
        }),
      ]);
      expect(await status(storage, "r1")).toBe("running");
      expect(await storage.listRunHistory("r1")).toEqual([]);
    });

    it("completeRun: running → succeeded with its output, lease and last error cleared, no history row", async () => {
      const storage = await ready();
      await claim(storage, t0);
      await apply(leasedTransitions.retryRun("r1", lease, t0 + 1));
      await claim(storage, t0 + 2000);
      expect(await apply(leasedTransitions.completeRun("r1", lease, t0 + 2010))).toBe(true);
      expect(await storage.getRun("r1")).toMatchObject({
        status: "succeeded",
        outputJson: '"done"',
        lastError: null,
        finishedAt: t0 + 2010,
      });
      expect((await storage.listRunHistory("r1")).map((h) => h.kind)).toEqual(["retry", "claim"]);
      expect(await storage.extendLeases([lease], t0 + 9000)).toEqual([]);
    });

    it("retryRun: running → retrying at the backoff; a step's failure counts on the step, a run's on the run", async () => {
      const storage = await ready([run("step-failed"), run("run-failed")]);
      await claim(storage, t0);
      const outside = { ...leasedTransitions.retryRun("run-failed", lease, t0 + 10), stepFailure: null, error: "boom" };
      await storage.applyTransitions([leasedTransitions.retryRun("step-failed", lease, t0 + 10), outside]);

      expect(await storage.getRun("step-failed")).toMatchObject({
        status: "retrying",
        availableAt: t0 + 1010,
        failures: 0,
        crashes: 0,
        lastError: failure.error,
      });
      expect(await storage.listSteps("step-failed")).toEqual([
        expect.objectContaining({ name: "charge", status: "failed", error: failure.error, failures: 1 }),
      ]);
      expect(await storage.getRun("run-failed")).toMatchObject({ status: "retrying", failures: 1, lastError: "boom" });
      expect(await storage.listSteps("run-failed")).toEqual([]);
      expect(await storage.listRunHistory("step-failed")).toEqual([
        expect.objectContaining({ kind: "retry", stepName: "charge", attempt: 1, at: t0 + 10, until: t0 + 1010 }),
      ]);
      expect(await storage.extendLeases([lease], t0 + 9000)).toEqual([]);
    });

    it("finishRunWithError: running → dead | failed, finished, with the attempt in the history", async () => {
      const storage = await ready([run("dead"), run("failed")]);
      await claim(storage, t0);
      const nonRetryable = {
        ...leasedTransitions.finishRunWithError("failed", lease, t0 + 10),
        status: "failed" as const,
      };
      await storage.applyTransitions([leasedTransitions.finishRunWithError("dead", lease, t0 + 10), nonRetryable]);
      expect(await storage.getRun("dead")).toMatchObject({
        status: "dead",
        finishedAt: t0 + 10,
        lastError: failure.error,
      });
      expect(await storage.getRun("failed")).toMatchObject({ status: "failed", finishedAt: t0 + 10 });
      expect(await storage.listRunHistory("dead")).toEqual([
        expect.objectContaining({ kind: "dead", stepName: "charge", attempt: 3, startedAt: t0 + 5, at: t0 + 10 }),
      ]);
    });

    it("sleepRun: running → sleeping until the wake time, journaled as the sleep step, crashes forgiven", async () => {
      const storage = await ready();
      await claim(storage, t0, lease, 10, 1);
      await apply(leasedTransitions.interruptRun("r1", lease, t0 + 1));
      await claim(storage, t0 + 2);
      expect(await apply(leasedTransitions.sleepRun("r1", lease, t0 + 10))).toBe(true);
      expect(await storage.getRun("r1")).toMatchObject({ status: "sleeping", availableAt: t0 + 5010, crashes: 0 });
      expect(await storage.listSteps("r1")).toEqual([
        expect.objectContaining({
          name: "nap",
          status: "completed",
          outputJson: JSON.stringify({ sleepUntil: t0 + 5010 }),
        }),
      ]);
      expect(await storage.listRunHistory("r1")).toContainEqual(
        expect.objectContaining({ kind: "sleep", stepName: "nap", at: t0 + 10, until: t0 + 5010 }),
      );
    });

    it("releaseRun: running → queued now, nothing counted, nothing in the history", async () => {
      const storage = await ready();
      await claim(storage, t0);
      expect(await apply(leasedTransitions.releaseRun("r1", lease, t0 + 10))).toBe(true);
      expect(await storage.getRun("r1")).toMatchObject({
        status: "queued",
        availableAt: t0 + 10,
        failures: 0,
        crashes: 0,
      });
      expect(await storage.listRunHistory("r1")).toEqual([]);
    });

    it("interruptRun: running → queued, due when its lease ends (now once it has), a crash counted unless a step completed since the last one", async () => {
      const storage = await ready();
      // Handed back before its lease ends (the worker fenced itself a margin early): due when the lease ends, so
      // what the worker aborted has that margin before another attempt repeats it.
      await claim(storage, t0, "l1");
      expect(await apply(leasedTransitions.interruptRun("r1", "l1", t0 + 10))).toBe(true);
      expect(await storage.getRun("r1")).toMatchObject({
        status: "queued",
        availableAt: t0 + 30_000,
        crashes: 1,
        lastError: "fenced",
      });
      expect(await claim(storage, t0 + 29_999, "early")).toEqual([]);
      // Handed back after its lease ended (a stall past it): due now.
      expect(await claim(storage, t0 + 30_000, "l2", 10, 1000)).toEqual(["r1"]);
      await apply(leasedTransitions.recordStep("r1", "l2", t0 + 30_500));
      await apply(leasedTransitions.interruptRun("r1", "l2", t0 + 31_200));
      expect(await storage.getRun("r1")).toMatchObject({ status: "queued", availableAt: t0 + 31_200, crashes: 0 });
      const interruptions = (await storage.listRunHistory("r1")).filter((h) => h.kind === "interrupt");
      expect(interruptions.map((h) => [h.at, h.detail])).toEqual([
        [t0 + 10, "fenced"],
        [t0 + 31_200, "fenced"],
      ]);
    });

    it("waitRun: running → waiting on the connection until the given time; no attempt used", async () => {
      const storage = await ready();
      await claim(storage, t0);
      expect(await apply(leasedTransitions.waitRun("r1", lease, t0 + 10))).toBe(true);
      expect(await storage.getRun("r1")).toMatchObject({
        status: "waiting",
        waitingOn: "crm",
        availableAt: t0 + 2010,
        failures: 0,
        lastError: "circuit open",
      });
      expect(await storage.listRunHistory("r1")).toEqual([
        expect.objectContaining({ kind: "wait", connectionId: "crm", at: t0 + 10, until: t0 + 2010 }),
      ]);
    });

    it("pauseRun: running → paused while the connection is auth_failed, else running → queued", async () => {
      const storage = await ready([run("paused"), run("released")]);
      await storage.connections.markAuthFailed("crm", "rejected", t0);
      await claim(storage, t0);
      expect(await apply(leasedTransitions.pauseRun("paused", lease, t0 + 10))).toBe(true);
      expect(await storage.getRun("paused")).toMatchObject({ status: "paused", waitingOn: "crm", failures: 0 });
      expect(await storage.listRunHistory("paused")).toEqual([
        expect.objectContaining({ kind: "pause", connectionId: "crm", at: t0 + 10 }),
      ]);

      await storage.connections.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "sealed",
        expiresAt: null,
        restoresAccess: true,
        now: t0 + 20,
      });
      expect(await apply(leasedTransitions.pauseRun("released", lease, t0 + 30))).toBe(true);
      expect(await storage.getRun("released")).toMatchObject({
        status: "queued",
        availableAt: t0 + 30,
        waitingOn: null,
      });
    });
  });

  describe("transitions driven by a connection", () => {
    it("saving new credentials: paused → queued for that connection's runs, with a resume in each history", async () => {
      const storage = await ready([run("on-crm"), run("on-erp")]);
      await storage.connections.markAuthFailed("crm", "rejected", t0);
      await storage.connections.markAuthFailed("erp", "rejected", t0);
      await claim(storage, t0);
      await storage.applyTransitions([
        leasedTransitions.pauseRun("on-crm", lease, t0 + 1),
        { ...leasedTransitions.pauseRun("on-erp", lease, t0 + 1), connectionId: "erp" },
      ]);

      const saved = await storage.connections.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "sealed",
        expiresAt: null,
        restoresAccess: true,
        now: t0 + 50,
      });
      expect(saved).toMatchObject({ saved: true, resumedRuns: 1 });
      expect(await storage.getRun("on-crm")).toMatchObject({ status: "queued", availableAt: t0 + 50, waitingOn: null });
      expect(await status(storage, "on-erp")).toBe("paused");
      expect(await storage.listRunHistory("on-crm")).toContainEqual(
        expect.objectContaining({
          kind: "resume",
          connectionId: "crm",
          at: t0 + 50,
          detail: "new credentials were saved",
        }),
      );
    });

    it("a routine token refresh resumes nothing", async () => {
      const storage = await ready();
      await storage.connections.markAuthFailed("crm", "rejected", t0);
      await claim(storage, t0);
      await apply(leasedTransitions.pauseRun("r1", lease, t0 + 1));
      const saved = await storage.connections.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "sealed",
        expiresAt: null,
        restoresAccess: false,
        now: t0 + 50,
      });
      expect(saved).toMatchObject({ saved: true, resumedRuns: 0 });
      expect(await status(storage, "r1")).toBe("paused");
    });

    it("a circuit that closes: its waiting runs are due now, each with a resume in its history", async () => {
      const storage = await ready([run("on-crm"), run("on-erp")]);
      const threshold = { threshold: 1, cooldownMs: 30_000, error: "503" };
      await storage.connections.recordCircuitFailure({ connectionId: "crm", ...threshold, now: t0 });
      await claim(storage, t0);
      await storage.applyTransitions([
        leasedTransitions.waitRun("on-crm", lease, t0 + 1),
        { ...leasedTransitions.waitRun("on-erp", lease, t0 + 1), connectionId: "erp" },
      ]);

      expect(await storage.connections.recordCircuitSuccess("crm", t0 + 100)).toEqual({ closed: true, wokenRuns: 1 });
      expect(await storage.getRun("on-crm")).toMatchObject({ status: "waiting", availableAt: t0 + 100 });
      expect(await storage.getRun("on-erp")).toMatchObject({ status: "waiting", availableAt: t0 + 2001 });
      expect(await storage.listRunHistory("on-crm")).toContainEqual(
        expect.objectContaining({ kind: "resume", connectionId: "crm", at: t0 + 100, detail: "the circuit closed" }),
      );
    });
  });

  describe("concurrency keys: blocked → queued", () => {
    it("a key's runs past its limit are blocked, and each run that ends hands its slot to the oldest blocked one", async () => {
      const storage = await ready([run("k1", "order-1", 1), run("k2", "order-1", 1), run("k3", "order-1", 1)]);
      await enqueue(storage, [run("other", "order-2", 1)]);
      expect([await status(storage, "k1"), await status(storage, "k2"), await status(storage, "k3")]).toEqual([
        "queued",
        "blocked",
        "blocked",
      ]);
      expect(await status(storage, "other")).toBe("queued");

      expect(await claim(storage, t0)).toEqual(["k1", "other"]);
      await apply(leasedTransitions.completeRun("k1", lease, t0 + 10));
      expect(await storage.getRun("k2")).toMatchObject({ status: "queued", availableAt: t0 + 10 });
      expect(await status(storage, "k3")).toBe("blocked");

      expect(await claim(storage, t0 + 20, "l2")).toEqual(["k2"]);
      await apply(leasedTransitions.finishRunWithError("k2", "l2", t0 + 30));
      expect(await status(storage, "k3")).toBe("queued");
    });

    it("a run that retries, sleeps or waits keeps its slot; a limit above one admits that many", async () => {
      const storage = await ready([run("a", "k", 2), run("b", "k", 2), run("c", "k", 2)]);
      expect([await status(storage, "a"), await status(storage, "b"), await status(storage, "c")]).toEqual([
        "queued",
        "queued",
        "blocked",
      ]);
      await claim(storage, t0);
      await storage.applyTransitions([
        leasedTransitions.retryRun("a", lease, t0 + 1),
        leasedTransitions.waitRun("b", lease, t0 + 1),
      ]);
      expect(await status(storage, "c")).toBe("blocked");
    });

    it("a replayed finished run takes a slot again: blocked while its key is busy", async () => {
      const storage = await ready([run("old", "k", 1)]);
      await claim(storage, t0);
      await apply(leasedTransitions.finishRunWithError("old", lease, t0 + 1));
      await enqueue(storage, [run("new", "k", 1)]);
      expect(await status(storage, "new")).toBe("queued");

      expect(await storage.replayRun("old", t0 + 10)).toMatchObject({ status: "blocked" });
      await claim(storage, t0 + 20, "l2");
      await apply(leasedTransitions.completeRun("new", "l2", t0 + 30));
      expect(await status(storage, "old")).toBe("queued");
    });
  });

  describe("replays", () => {
    it("replayRun: a dead run → queued now, with a fresh retry budget and its journal kept", async () => {
      const storage = await ready();
      await claim(storage, t0);
      await apply(leasedTransitions.recordStep("r1", lease, t0 + 5));
      await apply(leasedTransitions.finishRunWithError("r1", lease, t0 + 10));
      const replayed = await storage.replayRun("r1", t0 + 100, "ops@example.com");
      expect(replayed).toMatchObject({ status: "queued", availableAt: t0 + 100, failures: 0, finishedAt: null });
      expect(await storage.getRun("r1")).toMatchObject({ status: "queued", failures: 0, crashes: 0, finishedAt: null });
      const steps = (await storage.listSteps("r1")).map((s) => [s.name, s.status, s.failures]);
      expect(steps.sort()).toEqual([
        ["charge", "failed", 0],
        ["one", "completed", 0],
      ]);
      expect(await storage.listRunHistory("r1")).toContainEqual(
        expect.objectContaining({ kind: "replay", at: t0 + 100, detail: "dead", actor: "ops@example.com" }),
      );
    });

    it("replayRun: a succeeded run's success moves into its history; a running or blocked run is refused", async () => {
      const storage = await ready([run("done"), run("busy"), run("first", "k", 1), run("blocked", "k", 1)]);
      await claim(storage, t0);
      await apply(leasedTransitions.completeRun("done", lease, t0 + 10));
      await storage.replayRun("done", t0 + 20);
      expect((await storage.listRunHistory("done")).map((h) => [h.kind, h.at])).toEqual([
        ["succeeded", t0 + 10],
        ["replay", t0 + 20],
      ]);
      await expect(storage.replayRun("busy", t0 + 20)).rejects.toThrow(/is running right now/);
      await expect(storage.replayRun("blocked", t0 + 20)).rejects.toThrow(/concurrency key/);
      await expect(storage.replayRun("missing", t0 + 20)).rejects.toThrow(/does not exist/);
      expect(await status(storage, "busy")).toBe("running");
    });

    it("replayRunsIn: only the runs still in the selection's status and finished by its start", async () => {
      const storage = await ready([run("early"), run("late"), run("alive")]);
      await claim(storage, t0);
      await storage.applyTransitions([
        leasedTransitions.finishRunWithError("early", lease, t0 + 10),
        leasedTransitions.finishRunWithError("late", lease, t0 + 500),
      ]);
      const selection = { status: "dead" as const, finishedBy: t0 + 100 };
      expect(await storage.replayRunsIn(selection, ["early", "late", "alive"], t0 + 1000)).toEqual(["early"]);
      expect(await storage.replayRunsIn(selection, ["early"], t0 + 2000)).toEqual([]);
      expect(await storage.getRun("early")).toMatchObject({ status: "queued", availableAt: t0 + 1000 });
      expect(await status(storage, "late")).toBe("dead");
    });
  });

  describe("runs created for an event stored already", () => {
    it("addRuns: (new) → queued | blocked, and the event becomes accepted", async () => {
      const storage = await ready([]);
      await storage.acceptEvents([
        { id: "e1", source: "shop", type: "order.paid", dedupKey: null, payloadJson: "{}", receivedAt: t0, runs: [] },
      ]);
      expect(await storage.getEvent("e1")).toMatchObject({ status: "unmatched" });
      await storage.addRuns("e1", [run("a", "k", 1), run("b", "k", 1)], t0 + 10);
      expect(await storage.getRun("a")).toMatchObject({ status: "queued", availableAt: t0 + 10, eventId: "e1" });
      expect(await status(storage, "b")).toBe("blocked");
      expect(await storage.getEvent("e1")).toMatchObject({ status: "accepted" });
    });

    it("requalifyEvent: a quarantined event's runs are enqueued, only while it is still quarantined", async () => {
      const storage = await ready([]);
      await storage.acceptEvents([
        {
          id: "q1",
          source: "shop",
          type: "order.paid",
          dedupKey: null,
          payloadJson: "not json",
          receivedAt: t0,
          runs: [],
          quarantineReason: "invalid",
        },
      ]);
      const outcome = { runs: [run("fresh")], parsed: { type: "order.created", payloadJson: '{"id":1}' } };
      expect(await storage.requalifyEvent("q1", outcome, t0 + 10, "quarantined")).toBe(true);
      expect(await storage.getEvent("q1")).toMatchObject({ status: "accepted", type: "order.created", error: null });
      expect(await storage.getRun("fresh")).toMatchObject({ status: "queued", availableAt: t0 + 10 });
      expect(await storage.requalifyEvent("q1", { runs: [run("again")] }, t0 + 20, "quarantined")).toBe(false);
      expect(await storage.getRun("again")).toBeNull();
    });
  });

  describe("runs whose worker is gone: running → queued, as interruptions", () => {
    it("come back (SQLite: at the next worker session; PostgreSQL: once their lease expires)", async () => {
      const storage = await ready([run("held"), run("idle")]);
      await claim(storage, t0, lease, 1);
      if (backend.name === "sqlite") {
        const next = t.db.open();
        try {
          await next.migrate();
          expect(await next.beginWorkerSession(t0 + 100)).toBe(1);
          await expectRequeued(next, t0 + 100);
          await next.endWorkerSession();
        } finally {
          await next.close();
        }
      } else {
        expect(await storage.expireLeases(t0 + 29_999)).toBe(0);
        expect(await storage.expireLeases(t0 + 30_001)).toBe(1);
        await expectRequeued(storage, t0 + 30_001);
      }
    });

    async function expectRequeued(storage: Storage, at: number): Promise<void> {
      expect(await storage.getRun("held")).toMatchObject({ status: "queued", availableAt: at, crashes: 1 });
      expect(await storage.getRun("idle")).toMatchObject({ status: "queued", availableAt: t0, crashes: 0 });
      expect(await storage.listRunHistory("held")).toEqual([expect.objectContaining({ kind: "interrupt", at })]);
      expect(await storage.extendLeases([lease], at + 1)).toEqual([]);
    }
  });
});
