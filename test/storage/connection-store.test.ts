import { randomUUID } from "node:crypto";
import pg from "pg";
import { beforeEach, describe, expect, it } from "vitest";
import type { AuditRecord, TakeRateLimitTokenInput } from "../../src/storage/connection-store.ts";
import type { ClaimedRun, RunTransition, Storage } from "../../src/storage/contract.ts";
import { backends, postgresUrl, useTestStorage } from "../support/backends.ts";
import { waitFor } from "../support/wait.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const lease = "worker-lease";

/** Creates `count` runs and claims them, as a worker would before it calls the API. */
async function claimRuns(storage: Storage, count: number, now = t0): Promise<ClaimedRun[]> {
  const runIds = Array.from({ length: count }, () => randomUUID());
  await storage.acceptEvents([
    {
      id: randomUUID(),
      source: "test",
      type: "order.created",
      dedupKey: null,
      payloadJson: "{}",
      receivedAt: now,
      runs: runIds.map((id) => ({ id, integrationId: "sync", concurrencyKey: null, concurrencyLimit: null })),
    },
  ]);
  const claimed = await storage.claimDueRuns({ leaseToken: lease, limit: count, now, leaseUntil: now + 60_000 });
  expect(claimed.map((r) => r.id).sort()).toEqual([...runIds].sort());
  return runIds.map((id) => claimed.find((r) => r.id === id) as ClaimedRun);
}

function pause(runId: string, connectionId: string, now = t0): RunTransition {
  return { kind: "pauseRun", runId, leaseToken: lease, connectionId, reason: "401 from the API", now };
}

function wait(runId: string, connectionId: string, availableAt: number, now = t0): RunTransition {
  return { kind: "waitRun", runId, leaseToken: lease, connectionId, availableAt, reason: "circuit open", now };
}

function audit(id: string, fields: Partial<AuditRecord> & Pick<AuditRecord, "connectionId" | "at">): AuditRecord {
  return {
    id,
    runId: null,
    stepName: null,
    method: "GET",
    url: "https://api.example.com/contacts",
    status: 200,
    error: null,
    durationMs: 12,
    requestHeaders: '{"accept":"application/json"}',
    requestBody: null,
    responseHeaders: '{"content-type":"application/json"}',
    responseBody: '{"ok":true}',
    ...fields,
  };
}

/** Resolves when `open()` is called: lets a test hold a callback in the middle of its work. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Lets every pending callback run, so work that is not blocked gets as far as it can. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe.each(backends)("connection store on $name", (backend) => {
  const t = useTestStorage(backend);
  beforeEach(() => t.storage.migrate());

  describe("credentials", () => {
    it("saves with compare-and-set on the version, bumping it on every write", async () => {
      const store = t.storage.connections;
      expect(await store.getConnection("crm")).toBeNull();

      const first = { connectionId: "crm", sealedCredentials: "sealed-1", expiresAt: t0 + 3_600_000 };
      expect(await store.saveCredentials({ ...first, expectedVersion: 0, restoresAccess: false, now: t0 })).toEqual({
        saved: true,
        version: 1,
        resumedRuns: 0,
      });
      // A second refresher that also read "no row yet" loses.
      expect(
        await store.saveCredentials({
          ...first,
          sealedCredentials: "other",
          expectedVersion: 0,
          restoresAccess: false,
          now: t0,
        }),
      ).toEqual({ saved: false, version: 1 });

      const refreshed = await store.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "sealed-2",
        expiresAt: t0 + 7_200_000,
        expectedVersion: 1,
        restoresAccess: false,
        now: t0 + 1000,
      });
      expect(refreshed).toEqual({ saved: true, version: 2, resumedRuns: 0 });
      expect(await store.getConnection("crm")).toEqual({
        id: "crm",
        status: "active",
        statusReason: null,
        statusChangedAt: t0,
        sealedCredentials: "sealed-2",
        credentialsVersion: 2,
        expiresAt: t0 + 7_200_000,
        updatedAt: t0 + 1000,
      });

      // Without an expected version the write always happens.
      const overwrite = { connectionId: "crm", sealedCredentials: "sealed-3", expiresAt: null, restoresAccess: false };
      expect(await store.saveCredentials({ ...overwrite, now: t0 + 2000 })).toMatchObject({ saved: true, version: 3 });
      expect(await store.getConnection("crm")).toMatchObject({ sealedCredentials: "sealed-3", expiresAt: null });

      // A version that was never written fails and creates nothing.
      const ghost = { connectionId: "ghost", sealedCredentials: "x", expiresAt: null, restoresAccess: false };
      expect(await store.saveCredentials({ ...ghost, expectedVersion: 4, now: t0 })).toEqual({
        saved: false,
        version: 0,
      });
      expect(await store.getConnection("ghost")).toBeNull();
    });

    it("does not mark auth_failed for a refusal of credentials that were replaced since", async () => {
      const store = t.storage.connections;
      const saved = { connectionId: "crm", sealedCredentials: "grant-1", expiresAt: null, restoresAccess: true };
      const first = await store.saveCredentials({ ...saved, now: t0 });
      const second = await store.saveCredentials({ ...saved, sealedCredentials: "grant-2", now: t0 + 1 });
      // A refresh that read version `first.version` is refused after a person stored `second`.
      expect(await store.markAuthFailed("crm", "invalid_grant", t0 + 2, first.version)).toBe(false);
      expect(await store.getConnection("crm")).toMatchObject({ status: "active", sealedCredentials: "grant-2" });
      expect(await store.markAuthFailed("crm", "invalid_grant", t0 + 3, second.version)).toBe(true);
      expect(await store.getConnection("crm")).toMatchObject({ status: "auth_failed" });
    });

    it("marks a connection auth_failed once, and a routine refresh leaves that status alone", async () => {
      const store = t.storage.connections;
      expect(await store.markAuthFailed("crm", "refresh token revoked", t0)).toBe(true);
      expect(await store.markAuthFailed("crm", "401 again", t0 + 1000)).toBe(false);
      expect(await store.getConnection("crm")).toEqual({
        id: "crm",
        status: "auth_failed",
        statusReason: "refresh token revoked",
        statusChangedAt: t0,
        sealedCredentials: null,
        credentialsVersion: 0,
        expiresAt: null,
        updatedAt: t0,
      });

      const refresh = { connectionId: "crm", sealedCredentials: "s", expiresAt: null, expectedVersion: 0 };
      expect(await store.saveCredentials({ ...refresh, restoresAccess: false, now: t0 + 2000 })).toMatchObject({
        saved: true,
        version: 1,
      });
      expect(await store.getConnection("crm")).toMatchObject({ status: "auth_failed", statusChangedAt: t0 });

      await store.saveCredentials({ ...refresh, expectedVersion: 1, restoresAccess: true, now: t0 + 3000 });
      expect(await store.getConnection("crm")).toMatchObject({
        status: "active",
        statusReason: null,
        statusChangedAt: t0 + 3000,
        credentialsVersion: 2,
      });
      // Restoring an already active connection does not move its status time.
      await store.saveCredentials({ ...refresh, expectedVersion: undefined, restoresAccess: true, now: t0 + 4000 });
      expect(await store.getConnection("crm")).toMatchObject({ statusChangedAt: t0 + 3000, credentialsVersion: 3 });

      await store.markAuthFailed("erp", "403", t0);
      expect((await store.listConnections()).map((c) => [c.id, c.status])).toEqual([
        ["crm", "active"],
        ["erp", "auth_failed"],
      ]);
    });

    it("new credentials resume the paused runs of that connection only", async () => {
      const store = t.storage.connections;
      await store.markAuthFailed("crm", "401", t0);
      await store.markAuthFailed("erp", "401", t0);
      const [a, b, c] = await claimRuns(t.storage, 3);
      if (!a || !b || !c) throw new Error("three runs were claimed");
      expect(await t.storage.applyTransitions([pause(a.id, "crm"), pause(b.id, "erp"), pause(c.id, "crm")])).toEqual([
        true,
        true,
        true,
      ]);
      expect(await t.storage.getRun(a.id)).toMatchObject({
        status: "paused",
        waitingOn: "crm",
        lastError: "401 from the API",
        failures: 0,
      });
      expect(await t.storage.nextDueAt()).toBeNull();
      expect(
        await t.storage.claimDueRuns({ leaseToken: "l2", limit: 10, now: t0 + 1e9, leaseUntil: t0 + 2e9 }),
      ).toEqual([]);

      const later = t0 + 60_000;
      const restored = await store.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "new key",
        expiresAt: null,
        restoresAccess: true,
        now: later,
      });
      expect(restored).toEqual({ saved: true, version: 1, resumedRuns: 2 });
      expect(await t.storage.getRun(a.id)).toMatchObject({ status: "queued", waitingOn: null, availableAt: later });
      expect(await t.storage.getRun(c.id)).toMatchObject({ status: "queued", waitingOn: null, availableAt: later });
      expect(await t.storage.getRun(b.id)).toMatchObject({ status: "paused", waitingOn: "erp" });

      const reclaimed = await t.storage.claimDueRuns({
        leaseToken: "l2",
        limit: 10,
        now: later,
        leaseUntil: later + 1,
      });
      expect(reclaimed.map((r) => r.id).sort()).toEqual([a.id, c.id].sort());
    });

    it("pauseRun queues the run at once when the connection is not auth_failed (credentials fixed meanwhile)", async () => {
      const store = t.storage.connections;
      const [unknown, fixed] = await claimRuns(t.storage, 2);
      if (!unknown || !fixed) throw new Error("two runs were claimed");
      await store.markAuthFailed("crm", "401", t0);
      await store.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "s",
        expiresAt: null,
        restoresAccess: true,
        now: t0 + 10,
      });

      const later = t0 + 500;
      expect(
        await t.storage.applyTransitions([pause(unknown.id, "nobody", later), pause(fixed.id, "crm", later)]),
      ).toEqual([true, true]);
      for (const run of [unknown, fixed]) {
        expect(await t.storage.getRun(run.id)).toMatchObject({ status: "queued", waitingOn: null, availableAt: later });
      }
      // The lease is gone now: a second pause by the same worker is refused.
      expect(await t.storage.applyTransitions([pause(fixed.id, "crm", later)])).toEqual([false]);
    });

    it("a paused or waiting run can be replayed: it is queued now", async () => {
      await t.storage.connections.markAuthFailed("crm", "401", t0);
      const [paused, waiting] = await claimRuns(t.storage, 2);
      if (!paused || !waiting) throw new Error("two runs were claimed");
      await t.storage.applyTransitions([pause(paused.id, "crm"), wait(waiting.id, "crm", t0 + 1e9)]);
      for (const run of [paused, waiting]) {
        const replayed = await t.storage.replayRun(run.id, t0 + 5);
        expect(replayed).toMatchObject({ status: "queued", waitingOn: null, availableAt: t0 + 5 });
        expect(await t.storage.getRun(run.id)).toMatchObject({ status: "queued", waitingOn: null });
      }
    });
  });

  describe("waiting runs", () => {
    it("waitRun keeps the failure count, and the run is claimable at availableAt, not before", async () => {
      const [claimed] = await claimRuns(t.storage, 1);
      if (!claimed) throw new Error("a run was claimed");
      const retryAt = t0 + 1000;
      await t.storage.applyTransitions([
        {
          kind: "retryRun",
          runId: claimed.id,
          leaseToken: lease,
          availableAt: retryAt,
          error: "boom",
          stepFailure: null,
          attempt: 1,
          attemptStartedAt: t0,
          now: t0,
        },
      ]);
      const [again] = await t.storage.claimDueRuns({ leaseToken: lease, limit: 1, now: retryAt, leaseUntil: t0 + 1e6 });
      expect(again?.failures).toBe(1);

      const wakeAt = t0 + 30_000;
      expect(await t.storage.applyTransitions([wait(claimed.id, "crm", wakeAt, retryAt)])).toEqual([true]);
      expect(await t.storage.getRun(claimed.id)).toMatchObject({
        status: "waiting",
        waitingOn: "crm",
        availableAt: wakeAt,
        failures: 1,
        lastError: "circuit open",
      });
      expect(await t.storage.listSteps(claimed.id)).toEqual([]);
      expect(await t.storage.nextDueAt()).toBe(wakeAt);

      const early = await t.storage.claimDueRuns({ leaseToken: "l2", limit: 1, now: wakeAt - 1, leaseUntil: t0 + 1e6 });
      expect(early).toEqual([]);
      const due = await t.storage.claimDueRuns({ leaseToken: "l2", limit: 1, now: wakeAt, leaseUntil: t0 + 1e6 });
      expect(due.map((r) => [r.id, r.failures])).toEqual([[claimed.id, 1]]);
      expect(await t.storage.getRun(claimed.id)).toMatchObject({ status: "running", waitingOn: null });

      // Only the lease holder may make a run wait.
      expect(await t.storage.applyTransitions([wait(claimed.id, "crm", wakeAt, wakeAt)])).toEqual([false]);
    });

    it("a waiting run keeps its concurrency slot", async () => {
      const runIds = [randomUUID(), randomUUID()];
      await t.storage.acceptEvents([
        {
          id: randomUUID(),
          source: "test",
          type: "order.created",
          dedupKey: null,
          payloadJson: "{}",
          receivedAt: t0,
          runs: runIds.map((id) => ({ id, integrationId: "sync", concurrencyKey: "sync:acme", concurrencyLimit: 1 })),
        },
      ]);
      const [first] = await t.storage.claimDueRuns({ leaseToken: lease, limit: 2, now: t0, leaseUntil: t0 + 1e6 });
      if (!first) throw new Error("the first run was claimed");
      await t.storage.applyTransitions([wait(first.id, "crm", t0 + 1000)]);
      expect(await t.storage.getRun(runIds[1] as string)).toMatchObject({ status: "blocked" });
    });
  });

  describe("circuit breaker", () => {
    const failure = { connectionId: "crm", threshold: 3, cooldownMs: 30_000, error: "503" };

    it("opens at the threshold, lets one probe through, reopens when the probe fails", async () => {
      const store = t.storage.connections;
      expect(await store.getCircuit("crm")).toEqual({
        connectionId: "crm",
        status: "closed",
        consecutiveFailures: 0,
        openedAt: null,
        reopenAt: null,
        probeUntil: null,
      });
      expect(await store.recordCircuitFailure({ ...failure, now: t0 })).toMatchObject({
        status: "closed",
        consecutiveFailures: 1,
      });
      expect(await store.recordCircuitFailure({ ...failure, now: t0 + 1 })).toMatchObject({ status: "closed" });
      const opened = await store.recordCircuitFailure({ ...failure, now: t0 + 2 });
      expect(opened).toEqual({
        connectionId: "crm",
        status: "open",
        consecutiveFailures: 3,
        openedAt: t0 + 2,
        reopenAt: t0 + 30_002,
        probeUntil: null,
      });
      expect(await store.getCircuit("crm")).toEqual(opened);

      expect(await store.claimCircuitProbe("crm", t0 + 30_001, 5000, "probe-1")).toBe(false);
      expect(await store.claimCircuitProbe("crm", t0 + 30_002, 5000, "probe-1")).toBe(true);
      expect(await store.claimCircuitProbe("crm", t0 + 30_003, 5000, "probe-2")).toBe(false);
      expect(await store.getCircuit("crm")).toMatchObject({ status: "half_open", probeUntil: t0 + 35_002 });
      // The prober vanished: once its lease has passed another worker may probe.
      expect(await store.claimCircuitProbe("crm", t0 + 35_003, 5000, "probe-2")).toBe(true);

      const reopened = await store.recordCircuitFailure({ ...failure, now: t0 + 36_000, probeId: "probe-2" });
      expect(reopened).toMatchObject({ status: "open", reopenAt: t0 + 66_000, probeUntil: null });
      expect(await store.claimCircuitProbe("crm", t0 + 40_000, 5000, "probe-3")).toBe(false);

      // A late failure while open restarts the cooldown and keeps when it opened.
      const late = await store.recordCircuitFailure({ ...failure, now: t0 + 40_000 });
      expect(late).toMatchObject({ status: "open", openedAt: reopened.openedAt, reopenAt: t0 + 70_000 });
    });

    it("a success closes the circuit and wakes the runs waiting on it early", async () => {
      const store = t.storage.connections;
      for (let i = 0; i < 3; i++) await store.recordCircuitFailure({ ...failure, now: t0 });
      const [onCrm, onErp, wokeAlready] = await claimRuns(t.storage, 3);
      if (!onCrm || !onErp || !wokeAlready) throw new Error("three runs were claimed");
      await t.storage.applyTransitions([
        wait(onCrm.id, "crm", t0 + 30_000),
        wait(onErp.id, "erp", t0 + 30_000),
        wait(wokeAlready.id, "crm", t0 + 100),
      ]);
      expect(await store.claimCircuitProbe("crm", t0 + 30_000, 5000, "probe-1")).toBe(true);

      const now = t0 + 1000;
      expect(await store.recordCircuitSuccess("crm", now)).toEqual({ closed: true, wokenRuns: 1 });
      expect(await store.getCircuit("crm")).toMatchObject({ status: "closed", consecutiveFailures: 0, reopenAt: null });
      expect(await t.storage.getRun(onCrm.id)).toMatchObject({ status: "waiting", availableAt: now });
      expect(await t.storage.getRun(onErp.id)).toMatchObject({ status: "waiting", availableAt: t0 + 30_000 });
      expect(await t.storage.getRun(wokeAlready.id)).toMatchObject({ availableAt: t0 + 100 });
      expect(await store.recordCircuitSuccess("crm", now)).toEqual({ closed: false, wokenRuns: 0 });
    });

    it("a probe whose lease lapsed cannot close or reopen the circuit over the probe that took over", async () => {
      const store = t.storage.connections;
      for (let i = 0; i < 3; i++) await store.recordCircuitFailure({ ...failure, now: t0 });
      const [waiting] = await claimRuns(t.storage, 1);
      if (!waiting) throw new Error("a run was claimed");
      await t.storage.applyTransitions([wait(waiting.id, "crm", t0 + 100_000)]);
      expect(await store.claimCircuitProbe("crm", t0 + 30_000, 5000, "stale")).toBe(true);
      // The stale probe's lease passes while its request is still out; another worker probes.
      expect(await store.claimCircuitProbe("crm", t0 + 35_001, 5000, "current")).toBe(true);
      const probing = await store.getCircuit("crm");
      expect(probing).toMatchObject({ status: "half_open", probeUntil: t0 + 40_001 });

      // The stale probe's late failure neither reopens the circuit nor restarts its cooldown.
      expect(await store.recordCircuitFailure({ ...failure, now: t0 + 36_000, probeId: "stale" })).toEqual(probing);
      expect(await store.getCircuit("crm")).toEqual(probing);
      // A late failure of a request sent before the circuit opened is counted, but leaves the test to the probe.
      const counted = await store.recordCircuitFailure({ ...failure, now: t0 + 36_001 });
      expect(counted).toEqual({ ...probing, consecutiveFailures: probing.consecutiveFailures + 1 });

      // The current probe fails: the circuit reopens. The stale probe's late success does not close it.
      const reopened = await store.recordCircuitFailure({ ...failure, now: t0 + 37_000, probeId: "current" });
      expect(reopened).toMatchObject({ status: "open", openedAt: t0 + 37_000, reopenAt: t0 + 67_000 });
      expect(await store.recordCircuitSuccess("crm", t0 + 37_001, "stale")).toEqual({ closed: false, wokenRuns: 0 });
      expect(await store.getCircuit("crm")).toEqual(reopened);
      expect(await t.storage.getRun(waiting.id)).toMatchObject({ status: "waiting", availableAt: t0 + 100_000 });

      // Nor does an earlier probe's success count once a later probe holds the circuit; that one's does.
      expect(await store.claimCircuitProbe("crm", t0 + 67_000, 5000, "next")).toBe(true);
      expect(await store.recordCircuitSuccess("crm", t0 + 67_001, "current")).toEqual({ closed: false, wokenRuns: 0 });
      expect(await store.recordCircuitSuccess("crm", t0 + 67_002, "next")).toEqual({ closed: true, wokenRuns: 1 });
      expect(await store.getCircuit("crm")).toMatchObject({ status: "closed", consecutiveFailures: 0 });
    });

    it("a success resets the failure count of a closed circuit without waking anything", async () => {
      const store = t.storage.connections;
      expect(await store.recordCircuitSuccess("crm", t0)).toEqual({ closed: false, wokenRuns: 0 });
      await store.recordCircuitFailure({ ...failure, now: t0 });
      await store.recordCircuitFailure({ ...failure, now: t0 });
      const [run] = await claimRuns(t.storage, 1);
      if (!run) throw new Error("a run was claimed");
      await t.storage.applyTransitions([wait(run.id, "crm", t0 + 5000)]);
      expect(await store.recordCircuitSuccess("crm", t0 + 1)).toEqual({ closed: false, wokenRuns: 0 });
      expect(await store.getCircuit("crm")).toMatchObject({ status: "closed", consecutiveFailures: 0 });
      expect(await t.storage.getRun(run.id)).toMatchObject({ availableAt: t0 + 5000 });
      // The count starts over: two more failures do not reach the threshold of three.
      await store.recordCircuitFailure({ ...failure, now: t0 + 2 });
      expect(await store.recordCircuitFailure({ ...failure, now: t0 + 3 })).toMatchObject({ status: "closed" });
    });
  });

  describe("rate limit bucket", () => {
    const take = (now: number, fields: Partial<TakeRateLimitTokenInput> = {}) =>
      t.storage.connections.takeRateLimitToken({
        connectionId: "crm",
        ratePerSecond: 2,
        burst: 3,
        now,
        maxWaitMs: 0,
        ...fields,
      });

    it("starts full, gives the burst at once, then refuses what it cannot give in time", async () => {
      for (let i = 0; i < 3; i++) expect(await take(t0)).toEqual({ granted: true, waitMs: 0 });
      expect(await take(t0)).toEqual({ granted: false, waitMs: 500 });
      expect(await t.storage.connections.getRateLimitState("crm")).toEqual({
        connectionId: "crm",
        tokens: 0,
        refilledAt: t0,
        pausedUntil: null,
        slowRatePerSecond: null,
        slowUntil: null,
      });
      // Refilled at two tokens a second.
      expect(await take(t0 + 250)).toEqual({ granted: false, waitMs: 250 });
      expect(await take(t0 + 500)).toEqual({ granted: true, waitMs: 0 });
      expect(await take(t0 + 1500)).toEqual({ granted: true, waitMs: 0 });
      expect(await take(t0 + 1500)).toEqual({ granted: true, waitMs: 0 });
      expect(await take(t0 + 1500)).toEqual({ granted: false, waitMs: 500 });
    });

    it("never refills beyond the burst", async () => {
      await take(t0);
      for (let i = 0; i < 3; i++) expect(await take(t0 + 3_600_000)).toMatchObject({ granted: true, waitMs: 0 });
      expect(await take(t0 + 3_600_000)).toEqual({ granted: false, waitMs: 500 });
    });

    it("reserves future tokens for callers willing to wait, queueing each behind the last", async () => {
      for (let i = 0; i < 3; i++) await take(t0);
      expect(await take(t0, { maxWaitMs: 1000 })).toEqual({ granted: true, waitMs: 500 });
      expect(await take(t0, { maxWaitMs: 1000 })).toEqual({ granted: true, waitMs: 1000 });
      expect(await take(t0, { maxWaitMs: 1000 })).toEqual({ granted: false, waitMs: 1500 });
      expect((await t.storage.connections.getRateLimitState("crm"))?.tokens).toBe(-2);
      // The refused caller took nothing: a second later only the two reservations are repaid.
      expect(await take(t0 + 1000, { maxWaitMs: 1000 })).toEqual({ granted: true, waitMs: 500 });
    });

    it("spaces reservations exactly one token apart, however the asking times fall (no ms lost to rounding)", async () => {
      const reservations: number[] = [];
      // Asking times at which floating-point rounding once reserved the last token at +1001 ms, not +1000.
      for (const at of [0, 40, 52, 84, 100, 104]) {
        const grant = await take(t0 + at, { ratePerSecond: 5, burst: 1, maxWaitMs: 10_000 });
        expect(grant.granted).toBe(true);
        reservations.push(at + grant.waitMs);
      }
      expect(reservations).toEqual([0, 200, 400, 600, 800, 1000]);
    });

    it("counts a wait from the caller's time when another caller's take committed after that time was read", async () => {
      const fiveASecond = { ratePerSecond: 5, burst: 1, maxWaitMs: 10_000 };
      expect(await take(t0, fiveASecond)).toEqual({ granted: true, waitMs: 0 });
      expect(await take(t0 + 100, fiveASecond)).toEqual({ granted: true, waitMs: 100 });
      // Read its time at t0 + 50, then waited for the lock behind the take above: its token is due at t0 + 400.
      expect(await take(t0 + 50, fiveASecond)).toEqual({ granted: true, waitMs: 350 });
    });

    it("holds every request until a signalled pause ends, and a pause never shrinks", async () => {
      const store = t.storage.connections;
      await take(t0);
      await store.recordRateLimitSignal({ connectionId: "crm", pausedUntil: t0 + 5000, now: t0 });
      await store.recordRateLimitSignal({ connectionId: "crm", pausedUntil: t0 + 1000, now: t0 });
      expect(await store.getRateLimitState("crm")).toMatchObject({ pausedUntil: t0 + 5000, tokens: 2 });
      expect(await take(t0 + 1000)).toEqual({ granted: false, waitMs: 4000 });
      expect(await take(t0 + 1000, { maxWaitMs: 4000 })).toEqual({ granted: true, waitMs: 4000 });
      expect(await take(t0 + 5000)).toEqual({ granted: true, waitMs: 0 });

      // Without a configured rate only the pause counts, and no token is ever used up.
      const unlimited = { connectionId: "erp", ratePerSecond: null, burst: 1 } as const;
      for (let i = 0; i < 5; i++) expect(await take(t0, unlimited)).toEqual({ granted: true, waitMs: 0 });
      await store.recordRateLimitSignal({ connectionId: "erp", pausedUntil: t0 + 2000, now: t0 });
      expect(await take(t0 + 500, unlimited)).toEqual({ granted: false, waitMs: 1500 });
      expect(await take(t0 + 500, { ...unlimited, maxWaitMs: 1500 })).toEqual({ granted: true, waitMs: 1500 });
      expect(await take(t0 + 2000, unlimited)).toEqual({ granted: true, waitMs: 0 });
    });

    it("spreads requests at a signalled slow rate until it ends", async () => {
      const store = t.storage.connections;
      const fast = { ratePerSecond: 10, burst: 1 };
      expect(await take(t0, fast)).toEqual({ granted: true, waitMs: 0 });
      await store.recordRateLimitSignal({ connectionId: "crm", slowRatePerSecond: 1, slowUntil: t0 + 10_000, now: t0 });
      expect(await take(t0, fast)).toEqual({ granted: false, waitMs: 1000 });
      expect(await take(t0 + 1000, fast)).toEqual({ granted: true, waitMs: 0 });
      // The configured rate still applies when it is the slower one.
      expect(await take(t0 + 1000, { ratePerSecond: 0.5, burst: 1 })).toEqual({ granted: false, waitMs: 2000 });
      // Once the slow-down is over the configured rate is back.
      expect(await take(t0 + 10_000, fast)).toEqual({ granted: true, waitMs: 0 });
      expect(await take(t0 + 10_000, fast)).toEqual({ granted: false, waitMs: 100 });

      // Without a configured rate a slow-down still spreads requests; its bucket starts empty.
      await store.recordRateLimitSignal({ connectionId: "erp", slowRatePerSecond: 4, slowUntil: t0 + 10_000, now: t0 });
      expect(await store.getRateLimitState("erp")).toMatchObject({
        tokens: 0,
        slowRatePerSecond: 4,
        slowUntil: t0 + 10_000,
      });
      const unlimited = { connectionId: "erp", ratePerSecond: null, burst: 1 };
      expect(await take(t0, unlimited)).toEqual({ granted: false, waitMs: 250 });
      expect(await take(t0 + 250, unlimited)).toEqual({ granted: true, waitMs: 0 });
    });

    it("keeps one bucket per connection", async () => {
      for (let i = 0; i < 3; i++) await take(t0);
      expect(await take(t0, { connectionId: "erp" })).toEqual({ granted: true, waitMs: 0 });
      expect(await t.storage.connections.getRateLimitState("nobody")).toBeNull();
    });
  });

  describe("refresh lock", () => {
    it("runs one refresher at a time per connection, and releases the lock when one throws", async () => {
      const store = t.storage.connections;
      const order: string[] = [];
      const first = gate();
      const holding = store.withRefreshLock("crm", async () => {
        order.push("first:start");
        await first.promise;
        order.push("first:end");
        return "first";
      });
      const failing = store
        .withRefreshLock("crm", async () => {
          order.push("second:start");
          throw new Error("refresh refused");
        })
        .catch((error: Error) => error.message);
      const third = store.withRefreshLock("crm", async () => {
        order.push("third");
        return "third";
      });
      await waitFor("the first refresher to start", () => order.includes("first:start"));
      const other = store.withRefreshLock("erp", async () => {
        order.push("other connection");
        return "other";
      });
      expect(await other).toBe("other");
      await settle();
      expect(order).toEqual(["first:start", "other connection"]);

      first.open();
      expect(await holding).toBe("first");
      expect(await failing).toBe("refresh refused");
      expect(await third).toBe("third");
      expect(order).toEqual(["first:start", "other connection", "first:end", "second:start", "third"]);
    });

    it.runIf(backend.name === "postgres")("serialises refreshers of different workers", async () => {
      const otherWorker = t.db.open();
      await otherWorker.migrate();
      const observer = new pg.Client({ connectionString: postgresUrl });
      await observer.connect();
      try {
        const order: string[] = [];
        const first = gate();
        const holding = t.storage.connections.withRefreshLock("crm", async () => {
          order.push("worker 1:start");
          await first.promise;
          order.push("worker 1:end");
        });
        await waitFor("worker 1 to hold the lock", () => order.includes("worker 1:start"));
        const waiting = otherWorker.connections.withRefreshLock("crm", async () => {
          order.push("worker 2:start");
        });
        const schema = t.db.env.TENON_POSTGRES_SCHEMA as string;
        await waitFor("worker 2 to wait for the advisory lock (or, wrongly, to start)", async () => {
          if (order.includes("worker 2:start")) return true;
          const { rows } = await observer.query<{ waiting: number }>(
            `SELECT count(*)::int AS waiting FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted AND objid::bigint = (hashtext($1)::bigint & 4294967295)`,
            [`tenon_refresh:${schema}:crm`],
          );
          return rows[0]?.waiting === 1;
        });
        expect(order).toEqual(["worker 1:start"]);
        first.open();
        await Promise.all([holding, waiting]);
        expect(order).toEqual(["worker 1:start", "worker 1:end", "worker 2:start"]);
      } finally {
        await observer.end();
        await otherWorker.close();
      }
    });
  });

  describe("token refresh claim", () => {
    const claim = (claimant: string, now: number, expectedVersion = 0) =>
      t.storage.connections.claimTokenRefresh({
        connectionId: "crm",
        claimant,
        expectedVersion,
        now,
        until: now + 60_000,
      });
    const save = (expectedVersion: number) =>
      t.storage.connections.saveCredentials({
        connectionId: "crm",
        sealedCredentials: `sealed-v${expectedVersion + 1}`,
        expiresAt: null,
        expectedVersion,
        restoresAccess: false,
        now: t0,
      });

    it("lets one refresher at a time send a token request for the credentials it read, until its claim lapses", async () => {
      // Nothing stored yet (a first client-credentials token): the claim is on version 0.
      expect(await claim("worker-1", t0)).toBe(true);
      expect(await claim("worker-2", t0 + 1)).toBe(false);
      expect(await claim("worker-2", t0 + 60_000)).toBe(false);
      // Worker 1 vanished in the middle: once its claim has passed, another refresher may send.
      expect(await claim("worker-2", t0 + 60_001)).toBe(true);
      expect(await claim("worker-1", t0 + 60_002)).toBe(false);

      // Only the claimant ends a claim early; then the next refresher need not wait.
      await t.storage.connections.releaseTokenRefresh("crm", "worker-1");
      expect(await claim("worker-3", t0 + 60_003)).toBe(false);
      await t.storage.connections.releaseTokenRefresh("crm", "worker-2");
      expect(await claim("worker-3", t0 + 60_004)).toBe(true);
      expect(await t.storage.connections.getConnection("crm")).toMatchObject({
        status: "active",
        credentialsVersion: 0,
        sealedCredentials: null,
      });
    });

    it("ends with the credentials it was for: saving them frees the claim, and a claim on the old version is refused", async () => {
      expect((await save(0)).saved).toBe(true);
      expect(await claim("worker-1", t0, 1)).toBe(true);
      expect((await save(1)).saved).toBe(true);
      // A refresher that read version 1 would spend a refresh token that is gone: refused, though no claim is live.
      expect(await claim("worker-2", t0 + 1, 1)).toBe(false);
      expect(await claim("worker-2", t0 + 1, 2)).toBe(true);
    });
  });

  describe("audit trail", () => {
    it("lists newest first with filters", async () => {
      const store = t.storage.connections;
      await store.appendAudit([
        audit("01-a", { connectionId: "crm", runId: "run-1", stepName: "fetch", at: t0 }),
        audit("02-b", {
          connectionId: "crm",
          runId: "run-2",
          at: t0 + 10,
          method: "POST",
          status: null,
          error: "connect ECONNREFUSED",
          requestBody: '{"name":"Ada"}',
          responseHeaders: null,
          responseBody: null,
        }),
        audit("03-c", { connectionId: "erp", runId: "run-1", at: t0 + 10 }),
      ]);
      await store.appendAudit([audit("04-d", { connectionId: "erp", at: t0 + 20 })]);
      await store.appendAudit([]);

      const ids = (records: AuditRecord[]) => records.map((r) => r.id);
      expect(ids(await store.listAudit())).toEqual(["04-d", "03-c", "02-b", "01-a"]);
      expect(ids(await store.listAudit({ runId: "run-1" }))).toEqual(["03-c", "01-a"]);
      expect(ids(await store.listAudit({ connectionId: "crm" }))).toEqual(["02-b", "01-a"]);
      expect(ids(await store.listAudit({ runId: "run-1", connectionId: "crm" }))).toEqual(["01-a"]);
      expect(ids(await store.listAudit({ limit: 2 }))).toEqual(["04-d", "03-c"]);
      expect((await store.listAudit({ runId: "run-2" }))[0]).toEqual({
        id: "02-b",
        connectionId: "crm",
        runId: "run-2",
        stepName: null,
        method: "POST",
        url: "https://api.example.com/contacts",
        status: null,
        error: "connect ECONNREFUSED",
        durationMs: 12,
        requestHeaders: '{"accept":"application/json"}',
        requestBody: '{"name":"Ada"}',
        responseHeaders: null,
        responseBody: null,
        at: t0 + 10,
      });
    });
  });

  describe("incidents", () => {
    it("lists newest first, by connection", async () => {
      const store = t.storage.connections;
      await store.recordIncident({ id: "i1", connectionId: "crm", kind: "auth_failed", detail: "401", at: t0 });
      await store.recordIncident({
        id: "i2",
        connectionId: "erp",
        kind: "circuit_opened",
        detail: "5 x 503",
        at: t0 + 1,
      });
      await store.recordIncident({
        id: "i3",
        connectionId: "crm",
        kind: "auth_restored",
        detail: "new key",
        at: t0 + 2,
      });
      expect((await store.listIncidents()).map((i) => i.id)).toEqual(["i3", "i2", "i1"]);
      expect(await store.listIncidents({ connectionId: "crm", limit: 1 })).toEqual([
        { id: "i3", connectionId: "crm", kind: "auth_restored", detail: "new key", at: t0 + 2 },
      ]);
    });
  });

  describe("pending authorisations", () => {
    const pending = {
      state: "state-1",
      connectionId: "crm",
      sealedVerifier: "sealed-verifier",
      returnTo: "/connections/crm",
      expiresAt: t0 + 600_000,
    };

    it("can be taken once", async () => {
      const store = t.storage.connections;
      await store.savePendingAuthorization(pending);
      expect(await store.takePendingAuthorization("forged", t0)).toBeNull();
      expect(await store.takePendingAuthorization("state-1", t0 + 1000)).toEqual(pending);
      expect(await store.takePendingAuthorization("state-1", t0 + 1000)).toBeNull();
    });

    it("is refused once expired, and expired ones are swept away", async () => {
      const store = t.storage.connections;
      await store.savePendingAuthorization(pending);
      await store.savePendingAuthorization({ ...pending, state: "abandoned", returnTo: null, expiresAt: t0 + 10 });
      await store.savePendingAuthorization({ ...pending, state: "fresh", expiresAt: pending.expiresAt + 1 });
      expect(await store.takePendingAuthorization("state-1", pending.expiresAt)).toBeNull();
      expect((await store.listSealedSecrets()).map((s) => s.id)).toEqual(["fresh"]);
      expect(await store.takePendingAuthorization("fresh", t0)).toMatchObject({ state: "fresh" });
    });
  });

  describe("sealed secrets", () => {
    it("lists every envelope and reseals one only if it is unchanged", async () => {
      const store = t.storage.connections;
      await store.saveCredentials({
        connectionId: "crm",
        sealedCredentials: "crm-old-key",
        expiresAt: null,
        restoresAccess: true,
        now: t0,
      });
      await store.markAuthFailed("erp", "no credentials yet", t0);
      await store.savePendingAuthorization({
        state: "state-1",
        connectionId: "erp",
        sealedVerifier: "verifier-old-key",
        returnTo: null,
        expiresAt: t0 + 600_000,
      });
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect((await store.listSealedSecrets()).sort(byId)).toEqual([
        { kind: "credentials", id: "crm", sealed: "crm-old-key" },
        { kind: "authorization", id: "state-1", sealed: "verifier-old-key" },
      ]);

      expect(await store.resealSecret("credentials", "crm", "refreshed meanwhile", "crm-new-key")).toBe(false);
      expect(await store.resealSecret("credentials", "crm", "crm-old-key", "crm-new-key")).toBe(true);
      // The same credentials: a refresher's compare-and-set on the version still holds.
      expect(await store.getConnection("crm")).toMatchObject({
        sealedCredentials: "crm-new-key",
        credentialsVersion: 1,
      });

      expect(await store.resealSecret("authorization", "state-1", "verifier-old-key", "verifier-new-key")).toBe(true);
      expect(await store.resealSecret("authorization", "state-1", "verifier-old-key", "again")).toBe(false);
      expect(await store.takePendingAuthorization("state-1", t0)).toMatchObject({ sealedVerifier: "verifier-new-key" });
    });
  });
});
