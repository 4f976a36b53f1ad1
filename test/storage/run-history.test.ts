import { describe, expect, it } from "vitest";
import { loadRunTimeline } from "../../src/observability/run-timeline.ts";
import type { RunTransition, Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const lease = "history-lease";
const claimant = "host-a pid 1";

async function enqueue(storage: Storage, runId: string): Promise<void> {
  await storage.acceptEvents([
    {
      id: `event-of-${runId}`,
      source: "shop",
      type: "order.paid",
      dedupKey: null,
      payloadJson: "{}",
      receivedAt: t0,
      runs: [{ id: runId, integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
    },
  ]);
}

/** Claims the due runs, `runId` among them. */
async function claim(storage: Storage, runId: string, now: number): Promise<void> {
  const claimed = await storage.claimDueRuns({
    leaseToken: lease,
    limit: 10,
    now,
    // Short enough that the interruption below comes after it: a run handed back before its lease ends is due only
    // when it ends (interrupt-run.ts).
    leaseUntil: now + 10,
    claimedBy: claimant,
  });
  expect(claimed.map((run) => run.id)).toContain(runId);
}

async function apply(storage: Storage, transition: RunTransition): Promise<void> {
  expect(await storage.applyTransitions([transition])).toEqual([true]);
}

describe.each(backends)("a run's history ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("keeps each claim, failed attempt, wait, interruption, sleep and the success; no stale last error", async () => {
    const storage = t.storage;
    await storage.migrate();
    await enqueue(storage, "run-1");
    const base = { runId: "run-1", leaseToken: lease };

    await claim(storage, "run-1", t0);
    await apply(storage, {
      kind: "waitRun",
      ...base,
      connectionId: "crm",
      availableAt: t0 + 100,
      reason: "circuit open",
      now: t0 + 10,
    });
    await claim(storage, "run-1", t0 + 100);
    await apply(storage, { kind: "interruptRun", ...base, reason: "worker fenced itself", now: t0 + 110 });
    await claim(storage, "run-1", t0 + 120);
    await apply(storage, { kind: "sleepRun", ...base, name: "cool-off", wakeAt: t0 + 200, now: t0 + 130 });
    await claim(storage, "run-1", t0 + 200);
    await apply(storage, {
      kind: "retryRun",
      ...base,
      availableAt: t0 + 300,
      error: 'step "charge": 503',
      stepFailure: { name: "charge", error: 'step "charge": 503\nfull body' },
      attempt: 1,
      attemptStartedAt: t0 + 205,
      now: t0 + 210,
    });
    await claim(storage, "run-1", t0 + 300);
    await apply(storage, {
      kind: "recordStep",
      ...base,
      name: "charge",
      outputJson: "1",
      startedAt: t0 + 305,
      now: t0 + 320,
    });
    await apply(storage, { kind: "completeRun", ...base, outputJson: null, now: t0 + 330 });

    const claimAt = (at: number) => expect.objectContaining({ kind: "claim", at, detail: claimant });
    // The first claim is the run row's (started_at, claimed_by); each later one is in the history.
    expect(await storage.listRunHistory("run-1")).toEqual([
      expect.objectContaining({
        kind: "wait",
        connectionId: "crm",
        at: t0 + 10,
        until: t0 + 100,
        detail: "circuit open",
      }),
      claimAt(t0 + 100),
      expect.objectContaining({ kind: "interrupt", at: t0 + 110, detail: "worker fenced itself" }),
      claimAt(t0 + 120),
      expect.objectContaining({ kind: "sleep", stepName: "cool-off", at: t0 + 130, until: t0 + 200 }),
      claimAt(t0 + 200),
      {
        kind: "retry",
        stepName: "charge",
        attempt: 1,
        connectionId: null,
        startedAt: t0 + 205,
        at: t0 + 210,
        until: t0 + 300,
        detail: 'step "charge": 503\nfull body',
      },
      claimAt(t0 + 300),
    ]);
    const charge = (await storage.listSteps("run-1")).find((step) => step.name === "charge");
    expect(charge).toMatchObject({ status: "completed", failures: 1, startedAt: t0 + 305, updatedAt: t0 + 320 });
    // Its success is the run row's: no history entry repeats it.
    expect(await storage.getRun("run-1")).toMatchObject({
      status: "succeeded",
      lastError: null,
      startedAt: t0,
      claimedBy: claimant,
      finishedAt: t0 + 330,
    });
    // The timeline puts the row's moments back: the first claim, then the success, each in its place.
    const timeline = await loadRunTimeline(storage, "run-1", t0 + 400);
    expect(timeline?.stateChanges.map((c) => [c.state, c.at - t0])).toEqual([
      ["queued", 0],
      ["claimed", 0],
      ["waiting", 10],
      ["claimed", 100],
      ["interrupted", 110],
      ["claimed", 120],
      ["sleeping", 130],
      ["claimed", 200],
      ["retry scheduled", 210],
      ["claimed", 300],
      ["succeeded", 330],
    ]);
    expect(timeline?.happenings[0]).toMatchObject({ kind: "claim", at: t0, detail: claimant });
  });

  it("a replayed success moves into the history; the timeline shows both successes, in order", async () => {
    const storage = t.storage;
    await storage.migrate();
    await enqueue(storage, "run-2");
    const base = { runId: "run-2", leaseToken: lease };
    await claim(storage, "run-2", t0);
    await apply(storage, { kind: "completeRun", ...base, outputJson: null, now: t0 + 10 });
    await storage.replayRun("run-2", t0 + 20);
    await claim(storage, "run-2", t0 + 30);
    await apply(storage, { kind: "completeRun", ...base, outputJson: null, now: t0 + 40 });

    const history = await storage.listRunHistory("run-2");
    expect(history.map((h) => [h.kind, h.at - t0])).toEqual([
      ["succeeded", 10],
      ["replay", 20],
      ["claim", 30],
    ]);
    const timeline = await loadRunTimeline(storage, "run-2", t0 + 50);
    const states = timeline?.stateChanges.map((s) => [s.state, s.at - t0]);
    expect(states).toEqual([
      ["queued", 0],
      ["claimed", 0],
      ["succeeded", 10],
      ["replayed", 20],
      ["claimed", 30],
      ["succeeded", 40],
    ]);
  });

  it("a crashed worker's runs are recorded as interrupted when they are requeued", async () => {
    const storage = t.storage;
    await storage.migrate();
    await enqueue(storage, "run-2");
    await claim(storage, "run-2", t0);
    // SQLite: the next process to own the file requeues them; PostgreSQL: their lease runs out.
    const requeued =
      storage.dialect === "sqlite"
        ? await storage.beginWorkerSession(t0 + 5000)
        : await storage.expireLeases(t0 + 5000);
    await storage.endWorkerSession();
    expect(requeued).toBe(1);
    expect(await storage.listRunHistory("run-2")).toEqual([
      expect.objectContaining({ kind: "interrupt", at: t0 + 5000, detail: expect.stringContaining("requeued") }),
    ]);
  });

  it("replayRunsIn replays a dead run once: a second call, or a run in another status, is skipped", async () => {
    const storage = t.storage;
    await storage.migrate();
    await enqueue(storage, "dead-run");
    await enqueue(storage, "queued-run");
    await claim(storage, "dead-run", t0);
    await apply(storage, {
      kind: "finishRunWithError",
      runId: "dead-run",
      leaseToken: lease,
      status: "dead",
      error: "retries exhausted",
      stepFailure: null,
      attempt: 1,
      attemptStartedAt: t0,
      now: t0 + 10,
    });

    const selection = { status: "dead", finishedBy: t0 + 15 } as const;
    expect(await storage.replayRunsIn(selection, ["dead-run", "queued-run"], t0 + 20)).toEqual(["dead-run"]);
    expect(await storage.replayRunsIn(selection, ["dead-run"], t0 + 30)).toEqual([]);
    expect(await storage.getRun("dead-run")).toMatchObject({ status: "queued", failures: 0, finishedAt: null });
    const replays = (await storage.listRunHistory("dead-run")).filter((entry) => entry.kind === "replay");
    expect(replays).toEqual([expect.objectContaining({ at: t0 + 20, detail: "dead" })]);

    // Dead again after the replay started: not the death it was asked about, so not replayed by it.
    await claim(storage, "dead-run", t0 + 40);
    await apply(storage, {
      kind: "finishRunWithError",
      runId: "dead-run",
      leaseToken: lease,
      status: "dead",
      error: "retries exhausted again",
      stepFailure: null,
      attempt: 1,
      attemptStartedAt: t0 + 40,
      now: t0 + 50,
    });
    expect(await storage.replayRunsIn(selection, ["dead-run"], t0 + 60)).toEqual([]);
    expect(await storage.replayRunsIn({ status: "dead", finishedBy: t0 + 60 }, ["dead-run"], t0 + 60)).toEqual([
      "dead-run",
    ]);
  });
});
