import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RawWebhookPayload } from "../../src/server/hooks-route.ts";
import type { NewEvent } from "../../src/storage/contract.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const minute = 60_000;
// A Stripe delivery cut off mid-body: what the hooks route stores when it cannot parse a verified webhook.
const truncatedBody = '{"id":"evt_1Qx","type":"invoice.paid","data":{"object":{"id":"in_1","amount_paid":4200';
const rawWebhook: RawWebhookPayload = { contentType: "application/json", encoding: "utf8", body: truncatedBody };
// Longer than a terminal line and on two lines, as a parser's message with the provider's context often is.
const reason = [
  "the body is not valid JSON: Unterminated object in JSON at position 86 (line 1 column 87); Stripe sent a body that ends before its last closing brace",
  "check the proxy in front of /hooks/stripe for a body size limit, then replay this event",
].join("\n");

describe("tenon events (SQLite)", () => {
  let cwd: string;
  let sqlitePath: string;

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-events-cli-"));
    sqlitePath = join(cwd, "tenon.db");
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  /** Runs the real CLI in the project directory, with no TENON_* variable of ours; stdout is a pipe, not a terminal. */
  function tenon(args: string[]) {
    return runTenonCli(cwd, args, { TENON_SQLITE_PATH: sqlitePath });
  }

  async function succeed(args: string[]): Promise<string> {
    const result = await tenon(args);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout;
  }

  async function json(args: string[]): Promise<unknown> {
    return JSON.parse(await succeed(args));
  }

  /**
   * Received before the test, oldest first: "order-event" (store, 2 h ago) started a run of order-sync;
   * "ping-event" (store, 40 min ago) matched no integration; "bad-webhook" (stripe, 10 min ago) was quarantined.
   */
  async function seedEvents(): Promise<void> {
    const now = Date.now();
    const storage = new SqliteStorage({ path: sqlitePath });
    await storage.migrate();
    const event = (id: string, fields: Partial<NewEvent>): NewEvent => ({
      id,
      source: "store",
      type: "order.created",
      dedupKey: null,
      payloadJson: "{}",
      receivedAt: now,
      runs: [],
      ...fields,
    });
    try {
      await storage.acceptEvents([
        event("order-event", {
          dedupKey: "ord_1001",
          payloadJson: JSON.stringify({ order: { id: 1001, total: 42 } }),
          receivedAt: now - 120 * minute,
          runs: [{ id: "order-run", integrationId: "order-sync", concurrencyKey: null, concurrencyLimit: null }],
        }),
      ]);
      await storage.acceptEvents([event("ping-event", { type: "store.ping", receivedAt: now - 40 * minute })]);
      await storage.acceptEvents([
        event("bad-webhook", {
          source: "stripe",
          type: "unparseable",
          dedupKey: "evt_delivery_77",
          payloadJson: JSON.stringify(rawWebhook),
          receivedAt: now - 10 * minute,
          quarantineReason: reason,
        }),
      ]);
    } finally {
      await storage.close();
    }
  }

  it("--status quarantined lists a quarantined webhook with its reason, wrapped; events show prints its body as received", async () => {
    await seedEvents();
    const table = await succeed(["events", "--status", "quarantined"]);
    const lines = table.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+SOURCE\s+TYPE\s+PROVIDER ID\s+STATUS\s+RECEIVED$/);
    expect(lines[1]).toMatch(
      /^bad-webhook\s+stripe\s+unparseable\s+evt_delivery_77\s+quarantined\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+ min ago\)$/,
    );
    expect(table).not.toContain("order-event");
    // Every word of the reason is there, on indented lines no wider than a 100-column terminal.
    const reasonLines = lines.slice(2);
    expect(reasonLines.length).toBeGreaterThan(2);
    for (const line of reasonLines) {
      expect(line).toMatch(/^ {2}\S/);
      expect(line.length).toBeLessThanOrEqual(100);
    }
    expect(unwrap(reasonLines)).toBe(`reason: ${reason.replace("\n", " ")}`);

    const shown = await succeed(["events", "show", "bad-webhook"]);
    expect(shown).toMatch(/^source\s+stripe$/m);
    expect(shown).toMatch(/^provider id\s+evt_delivery_77$/m);
    expect(shown).toMatch(/^status\s+quarantined$/m);
    // The body exactly as it came, on a line of its own: not escaped inside a JSON string.
    expect(shown.split("\n")).toContain(truncatedBody);
    expect(shown).toContain("body (application/json), as received:");
    expect(shown).toContain("runs: none started");
  });

  it("--json round-trips the full reason, and events show --json the payload as stored and the runs it started", async () => {
    await seedEvents();
    const listed = (await json(["events", "--json", "--status", "quarantined"])) as Record<string, unknown>[];
    expect(listed).toEqual([
      {
        id: "bad-webhook",
        source: "stripe",
        type: "unparseable",
        providerId: "evt_delivery_77",
        status: "quarantined",
        reason,
        receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    ]);

    expect(await json(["events", "show", "bad-webhook", "--json"])).toEqual({
      ...listed[0],
      payload: rawWebhook,
      runs: [],
    });
    expect(await json(["events", "show", "order-event", "--json"])).toMatchObject({
      status: "accepted",
      reason: null,
      payload: { order: { id: 1001, total: 42 } },
      runs: [{ id: "order-run", integrationId: "order-sync", status: "queued" }],
    });

    // For people, a JSON payload is pretty-printed and the runs are a table.
    const shown = await succeed(["events", "show", "order-event"]);
    expect(shown).toContain('"total": 42');
    expect(shown).toMatch(/^order-run\s+order-sync\s+queued$/m);
  });

  it("an unknown event id fails with a clear message, exit code 1 and nothing on stdout", async () => {
    await seedEvents();
    for (const args of [
      ["events", "show", "no-such-event"],
      ["events", "show", "no-such-event", "--json"],
    ]) {
      const result = await tenon(args);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain('no event "no-such-event" is stored');
    }
  });

  it("--since keeps the events received that recently, newest first; --source, --limit and `processed` filter too", async () => {
    await seedEvents();
    const ids = async (args: string[]) =>
      ((await json(["events", "--json", ...args])) as { id: string }[]).map((e) => e.id);
    expect(await ids([])).toEqual(["bad-webhook", "ping-event", "order-event"]);
    expect(await ids(["--since", "1h"])).toEqual(["bad-webhook", "ping-event"]);
    expect(await ids(["--since", "20m"])).toEqual(["bad-webhook"]);
    expect(await ids(["--since", "1d"])).toEqual(["bad-webhook", "ping-event", "order-event"]);
    expect(await ids(["--since", "1h", "--source", "store"])).toEqual(["ping-event"]);
    expect(await ids(["--status", "processed"])).toEqual(["order-event"]);
    expect(await ids(["--status", "unmatched"])).toEqual(["ping-event"]);
    expect(await ids(["--limit", "1"])).toEqual(["bad-webhook"]);

    const unitless = await tenon(["events", "--since", "30"]);
    expect(unitless.code).toBe(1);
    expect(unitless.stdout).toBe("");
    expect(unitless.stderr).toContain("must be a duration with its unit");
  });
});

/** The words of indented, wrapped lines, back on one line. */
function unwrap(lines: string[]): string {
  return lines.map((line) => line.trim()).join(" ");
}
