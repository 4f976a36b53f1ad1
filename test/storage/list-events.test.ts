import { describe, expect, it } from "vitest";
import type { NewEvent } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function event(id: string, source: string, receivedAt: number, quarantineReason?: string): NewEvent {
  const stored: NewEvent = { id, source, type: "order.created", dedupKey: id, payloadJson: "{}", receivedAt, runs: [] };
  if (quarantineReason !== undefined) stored.quarantineReason = quarantineReason;
  return stored;
}

describe.each(backends)("listEvents on $name", (backend) => {
  const t = useTestStorage(backend);

  it("lists newest first and combines the status, source and since filters", async () => {
    await t.storage.migrate();
    await t.storage.acceptEvents([
      event("old-store", "store", t0),
      event("bad-store", "store", t0 + 1000, "body is not JSON"),
      event("new-crm", "crm", t0 + 2000),
    ]);
    const ids = async (filter: Parameters<typeof t.storage.listEvents>[0]) =>
      (await t.storage.listEvents(filter)).map((e) => e.id);

    expect(await ids({})).toEqual(["new-crm", "bad-store", "old-store"]);
    expect(await ids({ since: t0 + 1000 })).toEqual(["new-crm", "bad-store"]);
    expect(await ids({ since: t0 + 1000, source: "store" })).toEqual(["bad-store"]);
    expect(await ids({ since: t0 + 1001, status: "quarantined" })).toEqual([]);
    expect(await ids({ status: "quarantined" })).toEqual(["bad-store"]);
  });
});
