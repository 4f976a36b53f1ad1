import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { spawnFixture, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";

interface Order {
  order_number: number;
  email?: string | null;
  skus?: string[];
  note?: string;
}

/** Warnings the engine logs, as parsed JSON lines. */
function capturingLogger() {
  const lines: { msg: string; integrationId?: string; err?: string }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe.each(backends)("entity tags in the engine on $name", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine | undefined;

  afterEach(async () => {
    await engine?.stop({ deadlineMs: 1000 });
    engine = undefined;
  });

  async function tagsOf(runId: string): Promise<string[]> {
    const tags = await t.storage.tags.tagsOfRuns([runId]);
    return tags.map((tag) => `${tag.kind}:${tag.value}`).sort();
  }

  it("stores an integration's entities with its run when the event is accepted: numbers as text, e-mail lower-cased, nulls and blanks left out, a list tagging each value", async () => {
    const orders = defineIntegration<Order>({
      id: "orders",
      trigger: { event: "order.created" },
      entities: (event) => ({
        order: event.payload.order_number,
        email: event.payload.email,
        sku: event.payload.skus ?? [],
        note: "  ",
      }),
      run: () => "done",
    });
    engine = testEngine({ storage: t.storage, integrations: [orders], worker: false });
    await engine.start();
    const first = await engine.send({
      type: "order.created",
      payload: { order_number: 1001, email: " Ada@Example.COM ", skus: ["MUG-1", "TEE-2", "MUG-1"] },
    });
    const second = await engine.send({ type: "order.created", payload: { order_number: 1002, email: null } });

    expect(await tagsOf(first.runIds[0] as string)).toEqual([
      "email:ada@example.com",
      "order:1001",
      "sku:MUG-1",
      "sku:TEE-2",
    ]);
    expect(await tagsOf(second.runIds[0] as string)).toEqual(["order:1002"]);
    // The number and its text are one order.
    expect(await t.storage.tags.runIdsForEntity("order", "1001")).toEqual(first.runIds);
  });

  it("an entities function that throws loses nothing: the event and its run are stored and the run executes, without those tags, and the error is logged", async () => {
    const { logger, lines } = capturingLogger();
    const fragile = defineIntegration<Order>({
      id: "fragile",
      trigger: { event: "order.created" },
      entities: (event) => {
        if (!event.payload.email) throw new Error("no email on this order");
        return { email: event.payload.email };
      },
      run: () => "done",
    });
    // Another integration of the same event keeps its own tags.
    const sturdy = defineIntegration<Order>({
      id: "sturdy",
      trigger: { event: "order.created" },
      entities: (event) => ({ order: event.payload.order_number, "Bad Kind": "x" }),
      run: () => "done",
    });
    engine = testEngine({ storage: t.storage, integrations: [fragile, sturdy], logger });
    await engine.start();
    const sent = await engine.send({ type: "order.created", payload: { order_number: 7 } });

    expect(sent.duplicate).toBe(false);
    expect((await t.storage.getEvent(sent.eventId))?.status).toBe("accepted");
    const [fragileRun, sturdyRun] = sent.runIds as [string, string];
    await waitForRunStatus(t.storage, fragileRun, "succeeded");
    await waitForRunStatus(t.storage, sturdyRun, "succeeded");
    expect(await tagsOf(fragileRun)).toEqual([]);
    expect(await tagsOf(sturdyRun)).toEqual(["order:7"]);
    expect(lines).toContainEqual(expect.objectContaining({ integrationId: "fragile", err: "no email on this order" }));
    expect(lines).toContainEqual(
      expect.objectContaining({ integrationId: "sturdy", msg: "an entity was left out: it cannot be a tag" }),
    );
  });

  it("step.tag tags the run with what it created, once however often it is called; a kind that cannot be a tag fails the run with the reason", async () => {
    const invoicing = defineIntegration<Order>({
      id: "invoicing",
      trigger: { event: "order.created" },
      async run({ event, step }) {
        const invoice = await step.run("create-invoice", () => ({ id: `INV-${event.payload.order_number}` }));
        await step.tag("invoice", invoice.id);
        await step.tag("invoice", invoice.id);
        await step.tag("contact", undefined);
        if (event.payload.note === "bad kind") await step.tag("Invoice Number", invoice.id);
      },
    });
    engine = testEngine({ storage: t.storage, integrations: [invoicing] });
    await engine.start();
    const good = await engine.send({ type: "order.created", payload: { order_number: 1 } });
    const bad = await engine.send({ type: "order.created", payload: { order_number: 2, note: "bad kind" } });
    const goodRun = good.runIds[0] as string;
    await waitForRunStatus(t.storage, goodRun, "succeeded");
    const failed = await waitForRunStatus(t.storage, bad.runIds[0] as string, "failed");

    expect(await tagsOf(goodRun)).toEqual(["invoice:INV-1"]);
    expect(await t.storage.tags.findRuns([{ kind: "invoice", value: "INV-1" }])).toEqual([
      { runId: goodRun, eventId: good.eventId, createdAt: expect.any(Number) },
    ]);
    expect(failed.lastError).toContain('step.tag: entity kind "Invoice Number" must be 1-50 characters');
  });
});

describe.each(backends)("step.tag across a crash on $name", (backend) => {
  let dir: string;
  let workers: WorkerProcess[];
  const t = useTestStorage(backend);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tenon-tag-crash-"));
    workers = [];
  });
  afterEach(async () => {
    for (const worker of workers) await worker.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a step killed (kill -9) after it tagged the run executes again and tags again: the tag is stored once", async () => {
    const log = join(dir, "executions.log");
    const env = { ...t.db.env, EXECUTION_LOG: log, LEASE_MS: "600" };
    const first = spawnFixture("tagging-worker-process.ts", { ...env, SEND: "1001" });
    workers.push(first);
    const runId = (await first.waitForLine("SENT ")).slice(5);
    await first.waitForLine(`IN_FLIGHT ${runId}`);
    await first.kill9();

    workers.push(spawnFixture("tagging-worker-process.ts", env));
    await t.storage.migrate();
    await waitForRunStatus(t.storage, runId, "succeeded", 20_000);

    // The step ran twice, and tagged twice.
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual([
      `create-invoice ${runId}`,
      `create-invoice ${runId}`,
    ]);
    const tags = await t.storage.tags.tagsOfRuns([runId]);
    expect(tags.map((tag) => `${tag.kind}:${tag.value}`).sort()).toEqual(["invoice:S-1001", "order:1001"]);
    expect(await t.storage.tags.runIdsForEntity("invoice", "S-1001")).toEqual([runId]);
  });
});
