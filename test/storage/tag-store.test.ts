import { describe, expect, it } from "vitest";
import type { NewEvent, NewRun } from "../../src/storage/contract.ts";
import type { EntityTag } from "../../src/storage/tag-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function eventWithRun(n: number, tags: EntityTag[], receivedAt = t0 + n): NewEvent {
  const run: NewRun = { id: `run-${n}`, integrationId: "orders", concurrencyKey: null, concurrencyLimit: null, tags };
  return {
    id: `event-${n}`,
    source: "store",
    type: "orders/create",
    dedupKey: `order-${n}`,
    payloadJson: "{}",
    receivedAt,
    runs: [run],
  };
}

describe.each(backends)("entity tags on $name", (backend) => {
  const t = useTestStorage(backend);

  it("stores a run's declared tags with its event, in the accept transaction, and finds the runs holding every term, newest first", async () => {
    await t.storage.migrate();
    const ada = { kind: "email", value: "ada@example.com" };
    await t.storage.acceptEvents([
      eventWithRun(1, [{ kind: "order", value: "1001" }, ada]),
      eventWithRun(2, [{ kind: "order", value: "1002" }, ada]),
      eventWithRun(3, [
        { kind: "order", value: "1003" },
        { kind: "email", value: "bob@example.com" },
      ]),
    ]);
    // A duplicate delivery stores nothing, tags included.
    await t.storage.acceptEvents([{ ...eventWithRun(4, [ada]), dedupKey: "order-1" }]);

    expect(await t.storage.tags.findRuns([{ kind: "order", value: "1002" }])).toEqual([
      { runId: "run-2", eventId: "event-2", createdAt: t0 + 2 },
    ]);
    expect(await t.storage.tags.runIdsForEntity("email", "ada@example.com")).toEqual(["run-2", "run-1"]);
    expect(await t.storage.tags.runIdsForEntity("email", "ADA@example.com")).toEqual([]);
    const both = await t.storage.tags.findRuns([ada, { kind: "order", value: "1001" }]);
    expect(both.map((r) => r.runId)).toEqual(["run-1"]);
    expect(await t.storage.tags.findRuns([ada, { kind: "order", value: "1003" }])).toEqual([]);
    const tags = await t.storage.tags.tagsOfRuns(["run-1", "run-3"]);
    expect(tags.sort((a, b) => `${a.runId}${a.kind}`.localeCompare(`${b.runId}${b.kind}`))).toEqual([
      { runId: "run-1", kind: "email", value: "ada@example.com" },
      { runId: "run-1", kind: "order", value: "1001" },
      { runId: "run-3", kind: "email", value: "bob@example.com" },
      { runId: "run-3", kind: "order", value: "1003" },
    ]);
  });

  it("pages newest first with a keyset cursor: runs tagged at the same millisecond are neither skipped nor repeated", async () => {
    await t.storage.migrate();
    const vip = { kind: "customer", value: "vip" };
    // Seven runs, three of them at one instant.
    const times = [t0, t0 + 1, t0 + 1, t0 + 1, t0 + 2, t0 + 3, t0 + 4];
    await t.storage.acceptEvents(times.map((at, i) => eventWithRun(i + 1, [vip], at)));
    const seen: string[] = [];
    let after: { createdAt: number; runId: string } | undefined;
    for (let page = 0; page < 10; page++) {
      const runs = await t.storage.tags.findRuns([vip], { limit: 2, ...(after ? { after } : {}) });
      if (runs.length === 0) break;
      seen.push(...runs.map((r) => r.runId));
      const last = runs.at(-1) as { createdAt: number; runId: string };
      after = { createdAt: last.createdAt, runId: last.runId };
    }
    expect(seen).toEqual(["run-7", "run-6", "run-5", "run-4", "run-3", "run-2", "run-1"]);
  });

  it("a tag a run adds again (a step executed again after a crash) is stored once", async () => {
    await t.storage.migrate();
    await t.storage.acceptEvents([eventWithRun(1, [{ kind: "order", value: "1001" }])]);
    const invoice = { kind: "invoice", value: "S-1001", runId: "run-1", eventId: "event-1" };
    await t.storage.tags.addTags([{ ...invoice, createdAt: t0 + 10 }]);
    await t.storage.tags.addTags([
      { ...invoice, createdAt: t0 + 20 },
      { ...invoice, createdAt: t0 + 21 },
    ]);
    // The order's own tag, added by the run too, is not doubled either.
    await t.storage.tags.addTags([{ kind: "order", value: "1001", runId: "run-1", eventId: "event-1", createdAt: t0 }]);

    expect(await t.storage.tags.findRuns([{ kind: "invoice", value: "S-1001" }])).toEqual([
      { runId: "run-1", eventId: "event-1", createdAt: t0 + 10 },
    ]);
    expect(await t.storage.tags.tagsOfRuns(["run-1"])).toHaveLength(2);
  });

  it("tags the runs a replayed event starts, as the first ones were", async () => {
    await t.storage.migrate();
    await t.storage.acceptEvents([eventWithRun(1, [{ kind: "order", value: "1001" }])]);
    const again: NewRun = {
      id: "run-again",
      integrationId: "orders",
      concurrencyKey: null,
      concurrencyLimit: null,
      tags: [{ kind: "order", value: "1001" }],
    };
    await t.storage.addRuns("event-1", [again], t0 + 100);
    expect(await t.storage.tags.runIdsForEntity("order", "1001")).toEqual(["run-again", "run-1"]);
  });
});
