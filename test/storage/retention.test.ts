import { describe, expect, it } from "vitest";
import { type RetentionOptions, RetentionPruner } from "../../src/engine/retention-pruner.ts";
import type { AuditRecord } from "../../src/storage/connection-store.ts";
import type { NewEvent, RunTransition, Storage } from "../../src/storage/contract.ts";
import type { PrunedRows } from "../../src/storage/retention-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { silentLogger } from "../support/engine.ts";

const day = 86_400_000;
const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
/** When the pruner looks: the "old" rows below are 100 days old. */
const now = t0 + 100 * day;
const lease = "retention-lease";
const far = t0 + 1000 * day;

function event(id: string, runIds: string[], fields: Partial<NewEvent> = {}): NewEvent {
  return {
    id,
    source: "shop",
    type: "order.paid",
    dedupKey: id,
    payloadJson: "{}",
    receivedAt: t0,
    runs: runIds.map((runId) => ({
      id: runId,
      integrationId: "billing",
      concurrencyKey: null,
      concurrencyLimit: null,
    })),
    ...fields,
  };
}

function audit(id: string, runId: string | null, at: number): AuditRecord {
  return {
    id,
    connectionId: "crm",
    runId,
    stepName: runId === null ? null : "charge",
    method: "POST",
    url: "https://api.example.com/charges",
    status: 200,
    error: null,
    durationMs: 12,
    requestHeaders: "{}",
    requestBody: null,
    responseHeaders: null,
    responseBody: null,
    at,
  };
}

async function apply(storage: Storage, transition: RunTransition): Promise<void> {
  expect(await storage.applyTransitions([transition])).toEqual([true]);
}

function pruner(storage: Storage, clock: ManualClock, options: RetentionOptions = {}) {
  return new RetentionPruner(storage.retention, clock, silentLogger, {
    retentionMs: 30 * day,
    deadRetentionMs: 90 * day,
    auditRetentionMs: 30 * day,
    pauseMs: 1,
    ...options,
  });
}

/** Old runs that succeeded, each with its own event, a journal row and an exchange. */
async function oldSucceededRuns(storage: Storage, count: number): Promise<string[]> {
  const runIds = Array.from({ length: count }, (_, i) => `old-${i}`);
  await storage.acceptEvents(runIds.map((runId) => event(`event-of-${runId}`, [runId])));
  await storage.claimDueRuns({ leaseToken: lease, limit: count, now: t0, leaseUntil: far });
  for (const runId of runIds) {
    await apply(storage, {
      kind: "recordStep",
      runId,
      leaseToken: lease,
      name: "charge",
      outputJson: "1",
      startedAt: t0,
      now: t0 + 1,
    });
    await apply(storage, { kind: "completeRun", runId, leaseToken: lease, outputJson: null, now: t0 + 2 });
  }
  await storage.connections.appendAudit(runIds.map((runId) => audit(`audit-of-${runId}`, runId, t0 + 1)));
  return runIds;
}

describe.each(backends)("retention ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("deletes old terminal runs with their steps, history, exchanges and emptied events; keeps everything else", async () => {
    const storage = t.storage;
    await storage.migrate();
    const blocking = { concurrencyKey: "billing:customer-1", concurrencyLimit: 1 };
    await storage.acceptEvents([
      event("e-succeeded", ["r-succeeded"]),
      event("e-failed", ["r-failed"]),
      event("e-dead-old", ["r-dead-old"]),
      event("e-dead-young", ["r-dead-young"]),
      event("e-succeeded-young", ["r-succeeded-young"]),
      event("e-shared", ["r-shared-done", "r-shared-sleeping"]),
      event("e-running", ["r-running"]),
      event("e-retrying", ["r-retrying"]),
      event("e-waiting", ["r-waiting"]),
      event("e-paused", ["r-paused"]),
      { ...event("e-blocker", []), runs: [{ id: "r-blocker", integrationId: "billing", ...blocking }] },
      { ...event("e-blocked", []), runs: [{ id: "r-blocked", integrationId: "billing", ...blocking }] },
      event("e-unmatched-old", []),
      event("e-unmatched-young", [], { receivedAt: now - day }),
      event("e-quarantined-old", [], { quarantineReason: "unparseable body" }),
      // Older than the retention, younger than the dead retention: quarantined events have the longer one.
      event("e-quarantined-mid", [], { quarantineReason: "unparseable body", receivedAt: now - 50 * day }),
    ]);
    expect((await storage.claimDueRuns({ leaseToken: lease, limit: 100, now: t0, leaseUntil: far })).length).toBe(12);
    // Accepted after the claim: stays queued.
    await storage.acceptEvents([event("e-queued", ["r-queued"])]);

    const base = (runId: string) => ({ runId, leaseToken: lease });
    const failure = (runId: string, status: "failed" | "dead", at: number): RunTransition => ({
      kind: "finishRunWithError",
      ...base(runId),
      status,
      error: 'step "charge": 422',
      stepFailure: { name: "charge", error: 'step "charge": 422' },
      attempt: 1,
      attemptStartedAt: at - 1,
      now: at,
    });
    const succeed = async (runId: string, at: number) => {
      await apply(storage, {
        kind: "recordStep",
        ...base(runId),
        name: "charge",
        outputJson: "1",
        startedAt: at - 2,
        now: at - 1,
      });
      await apply(storage, { kind: "completeRun", ...base(runId), outputJson: null, now: at });
    };
    await succeed("r-succeeded", t0 + 2);
    await succeed("r-shared-done", t0 + 2);
    await succeed("r-succeeded-young", now - day);
    await apply(storage, failure("r-failed", "failed", t0 + 2));
    await apply(storage, failure("r-dead-old", "dead", t0 + 2));
    await apply(storage, failure("r-dead-young", "dead", now - 50 * day));
    await apply(storage, {
      kind: "sleepRun",
      ...base("r-shared-sleeping"),
      name: "cool-off",
      wakeAt: far,
      now: t0 + 2,
    });
    await apply(storage, {
      kind: "retryRun",
      ...base("r-retrying"),
      availableAt: far,
      error: "503",
      stepFailure: null,
      attempt: 1,
      attemptStartedAt: t0,
      now: t0 + 2,
    });
    await apply(storage, {
      kind: "waitRun",
      ...base("r-waiting"),
      connectionId: "crm",
      availableAt: far,
      reason: "circuit open",
      now: t0 + 2,
    });
    // Paused only while its connection's credentials are rejected.
    await storage.connections.markAuthFailed("crm", "credentials rejected", t0 + 1);
    await apply(storage, {
      kind: "pauseRun",
      ...base("r-paused"),
      connectionId: "crm",
      reason: "credentials rejected",
      now: t0 + 2,
    });
    await storage.connections.appendAudit([
      audit("a-succeeded", "r-succeeded", t0 + 1),
      // Old, but its run is alive: it stays as long as the run.
      audit("a-sleeping", "r-shared-sleeping", t0 + 1),
      audit("a-token-old", null, t0),
      audit("a-token-young", null, now - day),
    ]);

    // Entity tags go with their run; a kept run keeps its own.
    await storage.tags.addTags([
      { kind: "order", value: "1", eventId: "e-succeeded", runId: "r-succeeded", createdAt: t0 + 1 },
      { kind: "order", value: "2", eventId: "e-dead-young", runId: "r-dead-young", createdAt: t0 + 1 },
    ]);

    const pruned = ["r-succeeded", "r-failed", "r-dead-old", "r-shared-done"];
    const kept = {
      "r-succeeded-young": "succeeded",
      "r-dead-young": "dead",
      "r-shared-sleeping": "sleeping",
      "r-queued": "queued",
      "r-running": "running",
      "r-retrying": "retrying",
      "r-waiting": "waiting",
      "r-paused": "paused",
      "r-blocker": "running",
      "r-blocked": "blocked",
    };
    for (const [runId, status] of Object.entries(kept))
      expect((await storage.getRun(runId))?.status, runId).toBe(status);
    let steps = 0;
    let history = 0;
    for (const runId of pruned) {
      steps += (await storage.listSteps(runId)).length;
      history += (await storage.listRunHistory(runId)).length;
    }
    expect(steps).toBeGreaterThanOrEqual(3);
    expect(history).toBeGreaterThanOrEqual(2);
    const keptHistory = await storage.listRunHistory("r-dead-young");
    expect(keptHistory.length).toBeGreaterThan(0);

    const reports: PrunedRows[] = [];
    const total = await pruner(storage, new ManualClock(now), { onPruned: (rows) => reports.push(rows) }).prune();

    expect(total).toEqual({ runs: 4, events: 5, steps, run_history: history, audit_log: 2, tags: 1 });
    expect(await storage.tags.runIdsForEntity("order", "1")).toEqual([]);
    expect(await storage.tags.runIdsForEntity("order", "2")).toEqual(["r-dead-young"]);
    for (const table of Object.keys(total) as (keyof PrunedRows)[]) {
      expect(
        reports.reduce((sum, rows) => sum + rows[table], 0),
        table,
      ).toBe(total[table]);
    }
    for (const runId of pruned) {
      expect(await storage.getRun(runId), runId).toBeNull();
      expect(await storage.listSteps(runId), runId).toEqual([]);
      expect(await storage.listRunHistory(runId), runId).toEqual([]);
      expect(await storage.connections.listAudit({ runId }), runId).toEqual([]);
    }
    for (const [runId, status] of Object.entries(kept))
      expect((await storage.getRun(runId))?.status, runId).toBe(status);
    expect(await storage.listRunHistory("r-dead-young")).toEqual(keptHistory);
    expect((await storage.listSteps("r-succeeded-young")).map((s) => s.name)).toEqual(["charge"]);
    for (const eventId of ["e-succeeded", "e-failed", "e-dead-old", "e-unmatched-old", "e-quarantined-old"]) {
      expect(await storage.getEvent(eventId), eventId).toBeNull();
    }
    for (const eventId of [
      "e-dead-young",
      "e-succeeded-young",
      "e-shared",
      "e-queued",
      "e-running",
      "e-blocked",
      "e-unmatched-young",
      "e-quarantined-mid",
    ]) {
      expect(await storage.getEvent(eventId), eventId).not.toBeNull();
    }
    expect((await storage.connections.listAudit()).map((a) => a.id).sort()).toEqual(["a-sleeping", "a-token-young"]);

    // A second pass finds nothing more.
    expect(await pruner(storage, new ManualClock(now)).prune()).toEqual({
      runs: 0,
      events: 0,
      steps: 0,
      run_history: 0,
      audit_log: 0,
      tags: 0,
    });
  });

  it("deletes at most the batch size of runs per transaction", async () => {
    const storage = t.storage;
    await storage.migrate();
    const runIds = await oldSucceededRuns(storage, 10);
    let history = 0;
    for (const runId of runIds) history += (await storage.listRunHistory(runId)).length;
    const reports: PrunedRows[] = [];

    const total = await pruner(storage, new ManualClock(now), {
      batchSize: 3,
      onPruned: (rows) => reports.push(rows),
    }).prune();

    expect(reports.map((rows) => rows.runs)).toEqual([3, 3, 3, 1]);
    expect(reports.map((rows) => rows.events)).toEqual([3, 3, 3, 1]);
    // Their run events (claimed, succeeded) go with them.
    expect(total).toEqual({ runs: 10, events: 10, steps: 10, run_history: history, audit_log: 10, tags: 0 });
    for (const runId of runIds) expect(await storage.getRun(runId)).toBeNull();
  });

  it("off: nothing of runs and events is deleted; exchanges of no run keep their own retention", async () => {
    const storage = t.storage;
    await storage.migrate();
    const runIds = await oldSucceededRuns(storage, 3);
    await storage.acceptEvents([event("e-unmatched", []), event("e-quarantined", [], { quarantineReason: "bad" })]);
    await storage.connections.appendAudit([audit("a-token", null, t0)]);

    const total = await pruner(storage, new ManualClock(now), { retentionMs: null, deadRetentionMs: null }).prune();

    expect(total).toEqual({ runs: 0, events: 0, steps: 0, run_history: 0, audit_log: 1, tags: 0 });
    for (const runId of runIds) expect((await storage.getRun(runId))?.status).toBe("succeeded");
    expect(await storage.getEvent("e-unmatched")).not.toBeNull();
    expect(await storage.getEvent("e-quarantined")).not.toBeNull();
    expect((await storage.connections.listAudit()).map((a) => a.id).sort()).toEqual(
      runIds.map((runId) => `audit-of-${runId}`).sort(),
    );
  });

  it("one worker prunes at a time: a pass finds the lease taken and deletes nothing until it lapses", async () => {
    const storage = t.storage;
    await storage.migrate();
    await oldSucceededRuns(storage, 2);
    const other = { owner: "another-worker", now, until: now + 60_000 };
    expect(await storage.retention.claimPruningLease(other)).toBe(true);

    const clock = new ManualClock(now);
    expect((await pruner(storage, clock).prune()).runs).toBe(0);
    expect(await storage.getRun("old-0")).not.toBeNull();
    // A batch of the holder renews the lease; one of a pruner that lost it deletes nothing.
    expect(
      await storage.retention.pruneRuns({
        status: "succeeded",
        finishedBefore: now,
        limit: 10,
        lease: { owner: "a-stranger", now, until: now + 60_000 },
      }),
    ).toBeNull();
    expect(await storage.getRun("old-0")).not.toBeNull();

    clock.advance(60_001);
    expect((await pruner(storage, clock).prune()).runs).toBe(2);
    // The pass gave the lease up at its end: the other may take it again at once.
    expect(await storage.retention.claimPruningLease({ ...other, now: clock.now(), until: clock.now() + 1 })).toBe(
      true,
    );
  });
});
