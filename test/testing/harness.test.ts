import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestHarness, type TestHarness, WaitForRunsTimeoutError } from "../../src/testing/index.ts";
import { copyTemplatesOntoSources } from "../support/scaffold.ts";

// The scaffold's own config and integration (templates/init/), their "tenon" imports pointed at src/.
let project: string;
let config: URL;
let tenon: TestHarness | undefined;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), "tenon-harness-"));
  mkdirSync(join(project, "src"));
  copyTemplatesOntoSources(project, ["tenon.config.ts", "src/order-to-crm.ts"]);
  config = pathToFileURL(join(project, "tenon.config.ts"));
});

afterEach(async () => {
  await tenon?.stop();
  tenon = undefined;
});

afterAll(() => rmSync(project, { recursive: true, force: true }));

describe("tenon/testing", () => {
  it("runs the config against the sandbox: a store order becomes a CRM contact with one note", async () => {
    tenon = await startTestHarness({ config });
    const order = tenon.sandbox.store.placeOrder({ email: "ada@example.com", firstName: "Ada" });

    const run = await tenon.waitForRun({ integration: "order-to-crm" });

    expect(run).toMatchObject({ integration: "order-to-crm", status: "succeeded", lastError: null });
    expect(run.steps.map((step) => [step.name, step.status])).toEqual([
      ["upsert-contact", "completed"],
      ["add-order-note", "completed"],
    ]);
    const crm = tenon.sandbox.crm.state();
    expect(crm.contacts["ada@example.com"]?.properties.firstname).toBe("Ada");
    expect(crm.notes.map((note) => note.properties.hs_note_body)).toEqual([
      `Order ${order.name}: ${order.total_price} ${order.currency}`,
    ]);
    expect(run.output).toEqual({ contactId: crm.contacts["ada@example.com"]?.id, noteId: crm.notes[0]?.id });
  });

  it("sends events through the engine's API and waits for the runs of that event", async () => {
    tenon = await startTestHarness({ config });
    const order = tenon.sandbox.store.placeOrder({ email: "grace@example.com" });
    const sent = await tenon.send({ source: "store", type: "orders/create", id: "order-1", payload: order });

    expect(sent).toMatchObject({ duplicate: false, runIds: [expect.any(String)] });
    const [run] = await tenon.waitForRuns({ event: sent.eventId });
    expect(run?.status).toBe("succeeded");
    expect(await tenon.send({ source: "store", type: "orders/create", id: "order-1", payload: order })).toMatchObject({
      duplicate: true,
      eventId: sent.eventId,
    });
  });

  it("evaluates the config afresh for each harness, and puts process.env back when it stops", async () => {
    const before = process.env.STORE_WEBHOOK_SECRET;
    const first = await startTestHarness({ config });
    const firstSecret = process.env.STORE_WEBHOOK_SECRET;
    await first.stop();
    expect(process.env.STORE_WEBHOOK_SECRET).toBe(before);

    // A second sandbox has new credentials: a config module kept from the first would be refused by it.
    tenon = await startTestHarness({ config });
    expect(tenon.sandbox.environment.STORE_WEBHOOK_SECRET).not.toBe(firstSecret);
    tenon.sandbox.store.placeOrder();
    expect((await tenon.waitForRun({ integration: "order-to-crm" })).status).toBe("succeeded");
  });

  it("times out saying where each run stands, with its last error, and which events arrived", async () => {
    tenon = await startTestHarness({ config });
    // The CRM refuses its tokens: the run pauses until credentials are updated.
    tenon.sandbox.setFaults("crm", { revokeCredentials: true });
    tenon.sandbox.store.placeOrder();

    const error = await tenon.waitForRun({ integration: "order-to-crm", timeoutMs: 1_500 }).catch((e) => e);

    expect(error).toBeInstanceOf(WaitForRunsTimeoutError);
    expect(error.runs).toHaveLength(1);
    expect(error.message).toContain(
      'gave up after 1500 ms waiting for 1 finished run of integration "order-to-crm"; found 1, 0 finished:',
    );
    expect(error.message).toMatch(/order-to-crm paused.*; last error: .*crm/);
    expect(error.message).toMatch(/Events received, newest first:\n {2}\S+ store orders\/create: accepted/);
  });

  it("times out naming the sandbox webhooks Tenon refused", async () => {
    const wrongSecret = join(project, "wrong-secret.config.ts");
    writeFileSync(
      wrongSecret,
      readFileSync(join(project, "tenon.config.ts"), "utf8").replace(
        'secretFromEnv("STORE_WEBHOOK_SECRET")',
        '"not-the-store-secret"',
      ),
    );
    tenon = await startTestHarness({ config: wrongSecret });
    tenon.sandbox.store.placeOrder();

    const error = await tenon.waitForRun({ integration: "order-to-crm", timeoutMs: 1_000 }).catch((e) => e);

    expect(error.runs).toEqual([]);
    expect(error.message).toContain(
      "found 0, 0 finished.\nTenon received no events.\nSandbox webhooks Tenon has not accepted:",
    );
    expect(error.message).toMatch(
      /store orders\/create to http:\S+\/hooks\/store: (pending|failed) after \d+ attempts?, last: HTTP 401/,
    );
  });

  it("names the integrations of the config when asked for one it does not have", async () => {
    tenon = await startTestHarness({ config });
    await expect(tenon.waitForRun({ integration: "order-to-cmr" })).rejects.toThrow(
      'no integration "order-to-cmr" in the config; it has: order-to-crm',
    );
  });

  it("says which file it could not load", async () => {
    const broken = join(project, "broken.config.ts");
    writeFileSync(broken, "export default { integrations: 'none' };\n");
    await expect(startTestHarness({ config: broken })).rejects.toThrow(/broken\.config\.ts/);
    await expect(startTestHarness({ config: join(project, "missing.ts") })).rejects.toThrow(/no config file at/);
  });
});
