import { beforeEach, describe, expect, it } from "vitest";
import type { BulkActionCounts } from "../../src/storage/bulk-action-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const lease = 30_000;
const zero: BulkActionCounts = { replayed: 0, skipped: 0, failed: 0, other: {}, reasons: {} };

describe.each(backends)("bulk action store on $name", (backend) => {
  const t = useTestStorage(backend);
  const store = () => t.storage.bulkActions;

  async function create(id: string, owner: string, at: number, kind: "replay-runs" | "replay-events" = "replay-runs") {
    await store().createBulkAction({
      id,
      kind,
      selectionJson: JSON.stringify({ status: "dead", finishedBy: at }),
      actor: "olga",
      actorRole: "operator",
      total: 300,
      owner,
      leaseUntil: at + lease,
      now: at,
    });
  }

  beforeEach(async () => {
    await t.storage.migrate();
  });

  it("reads a job whose process stopped renewing its lease as interrupted, and lets one other process take it over", async () => {
    await create("job-1", "worker-a", t0);
    expect(await store().getBulkAction("job-1", t0 + lease - 1)).toMatchObject({ state: "running", total: 300 });
    const progress = { replayed: 100, skipped: 0, failed: 0, other: {}, reasons: {} };
    expect(
      await store().recordBulkProgress({
        id: "job-1",
        owner: "worker-a",
        counts: progress,
        cursorJson: '{"finishedAt":1,"seq":100}',
        leaseUntil: t0 + 1000 + lease,
        now: t0 + 1000,
      }),
    ).toBe(true);
    // worker-a dies here: no heartbeat, no release.
    const lapsed = t0 + 1000 + lease + 1;
    expect(await store().getBulkAction("job-1", lapsed)).toMatchObject({ state: "interrupted", replayed: 100 });
    expect(
      await store().claimInterruptedBulkAction({ id: "job-1", owner: "worker-b", leaseUntil: t0 + lease, now: t0 + 1 }),
    ).toBeNull();

    const taken = await store().claimInterruptedBulkAction({
      id: "job-1",
      owner: "worker-b",
      leaseUntil: lapsed + lease,
      now: lapsed,
    });
    expect(taken).toMatchObject({ state: "running", replayed: 100, cursorJson: '{"finishedAt":1,"seq":100}' });
    expect(
      await store().claimInterruptedBulkAction({
        id: "job-1",
        owner: "worker-c",
        leaseUntil: lapsed + lease,
        now: lapsed,
      }),
    ).toBeNull();
    // The old owner, back from a stall, can no longer write: its progress and its end are refused.
    const stale = { id: "job-1", owner: "worker-a", counts: zero, cursorJson: null, now: lapsed + 1 };
    expect(await store().recordBulkProgress({ ...stale, leaseUntil: lapsed + lease })).toBe(false);
    expect(await store().finishBulkAction({ ...stale, state: "finished", error: null })).toBe(false);

    const done = { replayed: 290, skipped: 10, failed: 0, other: {}, reasons: { "skipped: replayed already": 10 } };
    expect(
      await store().finishBulkAction({
        id: "job-1",
        owner: "worker-b",
        counts: done,
        cursorJson: null,
        state: "finished",
        error: null,
        now: lapsed + 5000,
      }),
    ).toBe(true);
    expect(await store().getBulkAction("job-1", lapsed + 10 * lease)).toMatchObject({
      ...done,
      state: "finished",
      finishedAt: lapsed + 5000,
    });
    expect(
      await store().claimInterruptedBulkAction({ id: "job-1", owner: "worker-c", leaseUntil: t0, now: lapsed * 2 }),
    ).toBeNull();
  });

  it("a released job reads interrupted at once; the list is newest first, by kind, with a cursor", async () => {
    await create("job-1", "worker-a", t0, "replay-runs");
    await create("job-2", "worker-a", t0 + 10, "replay-events");
    await create("job-3", "worker-a", t0 + 20, "replay-runs");
    await store().releaseBulkAction({ id: "job-3", owner: "worker-a", now: t0 + 30 });
    expect((await store().getBulkAction("job-3", t0 + 31))?.state).toBe("interrupted");
    expect((await store().getBulkAction("job-1", t0 + 31))?.state).toBe("running");

    const all = await store().listBulkActions({ now: t0 + 31, limit: 10 });
    expect(all.map((job) => [job.id, job.state])).toEqual([
      ["job-3", "interrupted"],
      ["job-2", "running"],
      ["job-1", "running"],
    ]);
    const runs = await store().listBulkActions({ now: t0 + 31, limit: 1, kind: "replay-runs" });
    expect(runs.map((job) => job.id)).toEqual(["job-3"]);
    const [last] = runs;
    const next = await store().listBulkActions({
      now: t0 + 31,
      limit: 10,
      kind: "replay-runs",
      before: { startedAt: last?.startedAt ?? 0, id: last?.id ?? "" },
    });
    expect(next.map((job) => job.id)).toEqual(["job-1"]);
    expect(await store().getBulkAction("nope", t0)).toBeNull();
  });
});
