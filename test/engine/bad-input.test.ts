import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ConfigurationError, ValidationError } from "../../src/sdk/errors.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";

describe.each(backends)("bad input on $name", (backend) => {
  const t = useTestStorage(backend);

  const integrations = [
    defineIntegration({
      id: "returns-bigint",
      trigger: { event: "bigint" },
      run: ({ step }) => step.run("total", () => ({ total: 10n })),
    }),
    defineIntegration({
      id: "returns-cycle",
      trigger: { event: "cycle" },
      run: ({ step }) =>
        step.run("graph", () => {
          const node: { self?: unknown } = {};
          node.self = node;
          return node;
        }),
    }),
    defineIntegration({
      id: "throws-string",
      trigger: { event: "string" },
      retries: { maxAttempts: 1 },
      run: () => {
        throw "the CRM said no";
      },
    }),
    defineIntegration({
      id: "throws-undefined",
      trigger: { event: "undefined" },
      retries: { maxAttempts: 1 },
      run: async ({ step }) => {
        await step.run("nothing", () => {
          throw undefined;
        });
      },
    }),
    defineIntegration({ id: "healthy", trigger: { event: "ok" }, run: () => "fine" }),
  ];

  it("an event no integration handles is kept and visible as unmatched", async () => {
    const engine = testEngine({ storage: t.storage, integrations });
    await engine.start();
    try {
      const result = await engine.send({ type: "invoice.voided", payload: { id: 7 } });
      expect(result).toMatchObject({ duplicate: false, runIds: [] });
      const event = await t.storage.getEvent(result.eventId);
      expect(event).toMatchObject({ status: "unmatched", type: "invoice.voided", payloadJson: '{"id":7}' });
      expect((await t.storage.listEvents({ status: "unmatched" })).map((e) => e.id)).toEqual([result.eventId]);
    } finally {
      await engine.stop();
    }
  });

  it("a payload that is not JSON-serialisable is refused with a clear error and nothing is stored", async () => {
    const engine = testEngine({ storage: t.storage, integrations });
    await engine.start();
    try {
      const cyclic: Record<string, unknown> = {};
      cyclic.me = cyclic;
      await expect(engine.send({ type: "ok", payload: { amount: 1n } })).rejects.toThrow(ValidationError);
      await expect(engine.send({ type: "ok", payload: { amount: 1n } })).rejects.toThrow(/"amount" is a bigint/);
      await expect(engine.send({ type: "ok", payload: cyclic })).rejects.toThrow(/not JSON-serialisable/);
      await expect(engine.send({ type: "ok", payload: { f: () => 1 } })).rejects.toThrow(/"f" is a function/);
      await expect(engine.send({ type: "", payload: {} })).rejects.toThrow(/event type must be a non-empty string/);
      expect(await t.storage.listEvents()).toEqual([]);
    } finally {
      await engine.stop();
    }
  });

  it("a step returning a value that cannot be journaled fails its run with the reason; non-Error throws are reported readably; the worker keeps working", async () => {
    const engine = testEngine({ storage: t.storage, integrations });
    await engine.start();
    try {
      const send = async (type: string) => (await engine.send({ type, payload: {} })).runIds[0] as string;
      const bigint = await waitForRunStatus(t.storage, await send("bigint"), "failed");
      expect(bigint.lastError).toMatch(/step "total" returned a value that cannot be journaled \("total" is a bigint/);
      const cycle = await waitForRunStatus(t.storage, await send("cycle"), "failed");
      expect(cycle.lastError).toMatch(/step "graph" returned a value that cannot be journaled.*circular/s);
      const string = await waitForRunStatus(t.storage, await send("string"), "dead");
      expect(string.lastError).toContain("a non-Error value was thrown: the CRM said no");
      const undef = await waitForRunStatus(t.storage, await send("undefined"), "dead");
      expect(undef.lastError).toContain("a non-Error value was thrown: undefined");
      const healthy = await waitForRunStatus(t.storage, await send("ok"), "succeeded");
      expect(healthy.outputJson).toBe('"fine"');
    } finally {
      await engine.stop();
    }
  });

  it("a redelivered event (same source and id) is recognised and creates no second run", async () => {
    const engine = testEngine({ storage: t.storage, integrations });
    await engine.start();
    try {
      const first = await engine.send({ type: "ok", source: "shop", id: "evt_1", payload: {} });
      const again = await engine.send({ type: "ok", source: "shop", id: "evt_1", payload: {} });
      const [a, b] = await Promise.all([
        engine.send({ type: "ok", source: "shop", id: "evt_2", payload: {} }),
        engine.send({ type: "ok", source: "shop", id: "evt_2", payload: {} }),
      ]);
      const otherSource = await engine.send({ type: "ok", source: "crm", id: "evt_1", payload: {} });
      expect(again).toEqual({ duplicate: true, eventId: first.eventId, runIds: first.runIds, fingerprint: null });
      expect([a?.duplicate, b?.duplicate].sort()).toEqual([false, true]);
      expect(a?.eventId).toBe(b?.eventId);
      expect(otherSource.duplicate).toBe(false);
      expect((await t.storage.listRuns()).length).toBe(3);
    } finally {
      await engine.stop();
    }
  });
});

describe("definitions that cannot work fail at load time", () => {
  it("rejects bad ids, triggers, limits and duplicate ids", () => {
    expect(() => defineIntegration({ id: "Bad Id", trigger: { event: "x" }, run: () => {} })).toThrow(
      ConfigurationError,
    );
    expect(() => defineIntegration({ id: "x", trigger: {} as never, run: () => {} })).toThrow(/trigger must be/);
    expect(() =>
      defineIntegration({ id: "x", trigger: { event: "x" }, concurrency: { key: () => "k", limit: 0 }, run: () => {} }),
    ).toThrow(/concurrency.limit/);
    const one = defineIntegration({ id: "same", trigger: { event: "x" }, run: () => {} });
    expect(() => testEngine({ storage: {} as Storage, integrations: [one, one] })).toThrow(
      /two integrations share the id "same"/,
    );
  });
});
