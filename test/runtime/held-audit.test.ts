import { describe, expect, it } from "vitest";
import { HeldAudit } from "../../src/runtime/held-audit.ts";
import type { AuditRecord } from "../../src/storage/connection-store.ts";

function exchange(id: string): AuditRecord {
  return {
    id,
    connectionId: "api",
    runId: "run-1",
    stepName: "call",
    method: "GET",
    url: "https://api.example.com/orders",
    status: 200,
    error: null,
    durationMs: 3,
    requestHeaders: "{}",
    requestBody: null,
    responseHeaders: "{}",
    responseBody: "{}",
    at: 0,
  };
}

describe("the audit records a run holds for its next transition", () => {
  it("are taken once, by the next transition, and none go the buffered way", () => {
    const buffered: string[] = [];
    const held = new HeldAudit();
    held.hold(exchange("a"), (r) => buffered.push(r.id));
    held.hold(exchange("b"), (r) => buffered.push(r.id));
    expect(held.take()?.map((r) => r.id)).toEqual(["a", "b"]);
    expect(held.take()).toBeUndefined();
    held.close();
    expect(buffered).toEqual([]);
  });

  it("go the buffered way when no transition took them before the execution ended, and so do later ones", () => {
    const buffered: string[] = [];
    const held = new HeldAudit();
    held.hold(exchange("a"), (r) => buffered.push(r.id));
    held.close();
    held.hold(exchange("late"), (r) => buffered.push(r.id));
    expect(buffered).toEqual(["a", "late"]);
    expect(held.take()).toBeUndefined();
  });

  it("go the buffered way a batch at a time when a step makes more requests than it may hold", () => {
    const buffered: string[] = [];
    const held = new HeldAudit(2);
    for (const id of ["a", "b", "c"]) held.hold(exchange(id), (r) => buffered.push(r.id));
    expect(buffered).toEqual(["a", "b"]);
    expect(held.take()?.map((r) => r.id)).toEqual(["c"]);
  });
});
