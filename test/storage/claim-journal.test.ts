import { randomInt } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { ClaimedRun, RunTransition, Storage } from "../../src/storage/contract.ts";
import { backends, postgresBackend, postgresUrl, useTestStorage } from "../support/backends.ts";
import { waitFor } from "../support/wait.ts";

/**
 * A claimed run is executed with its journal, and a step missing from it is executed again. So the journal a
 * claim returns must hold every step its previous lease holders committed before the claim took the run,
 * however close to the claim they committed.
 */
const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);

async function enqueue(storage: Storage, runId: string, at: number): Promise<void> {
  await storage.acceptEvents([
    {
      id: `event-of-${runId}`,
      source: "shop",
      type: "order.paid",
      dedupKey: null,
      payloadJson: `{"order":"${runId}"}`,
      receivedAt: at,
      runs: [{ id: runId, integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
    },
  ]);
}

/**
 * A lease of `leaseMs`: a run handed back before its lease ends is due only when it ends (interrupt-run.ts), so the
 * workers below that hand a run back hold a lease that ends as they do.
 */
function claim(storage: Storage, leaseToken: string, now: number, limit = 10, leaseMs = 30_000): Promise<ClaimedRun[]> {
  return storage.claimDueRuns({ leaseToken, limit, now, leaseUntil: now + leaseMs });
}

function recordStep(runId: string, leaseToken: string, name: string, now: number): RunTransition {
  return { kind: "recordStep", runId, leaseToken, name, outputJson: `"${name} done"`, startedAt: now - 1, now };
}

function interrupt(runId: string, leaseToken: string, now: number): RunTransition {
  return { kind: "interruptRun", runId, leaseToken, reason: "fenced", now };
}

const journalOf = (runs: ClaimedRun[], runId: string) =>
  runs.find((r) => r.id === runId)?.journal.map((step) => [step.name, step.outputJson]);

describe.each(backends)("a claimed run's journal ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("holds the steps its previous lease holder committed just before it handed the run back", async () => {
    const storage = t.storage;
    await storage.migrate();
    await enqueue(storage, "r1", t0);
    await claim(storage, "a", t0, 10, 2);
    expect(await storage.applyTransitions([recordStep("r1", "a", "one", t0 + 1)])).toEqual([true]);
    expect(await storage.applyTransitions([interrupt("r1", "a", t0 + 2)])).toEqual([true]);

    const claimed = await claim(storage, "b", t0 + 3);
    expect(claimed.map((r) => [r.id, r.firstClaim])).toEqual([["r1", false]]);
    expect(journalOf(claimed, "r1")).toEqual([["one", '"one done"']]);
  });

  it("a claim of new and resumed runs together gives each its own journal and its own event", async () => {
    const storage = t.storage;
    await storage.migrate();
    await enqueue(storage, "resumed", t0);
    await claim(storage, "a", t0, 10, 2);
    await storage.applyTransitions([
      recordStep("resumed", "a", "one", t0 + 1),
      recordStep("resumed", "a", "two", t0 + 1),
    ]);
    await storage.applyTransitions([interrupt("resumed", "a", t0 + 2)]);
    await enqueue(storage, "new", t0 + 2);

    const claimed = await claim(storage, "b", t0 + 3);
    expect(claimed.map((r) => [r.id, r.firstClaim, r.event.payloadJson])).toEqual([
      ["resumed", false, '{"order":"resumed"}'],
      ["new", true, '{"order":"new"}'],
    ]);
    expect(journalOf(claimed, "resumed")?.sort()).toEqual([
      ["one", '"one done"'],
      ["two", '"two done"'],
    ]);
    expect(journalOf(claimed, "new")).toEqual([]);
  });
});

/**
 * PostgreSQL only: a claim is one statement on the pool, and other workers commit while it runs. Here a worker
 * claims, journals a step and hands the run back after the claiming statement has started but before it has
 * locked the run: the statement then takes the run's newest version (READ COMMITTED re-checks the locked row), and
 * the journal must be that version's too, not the one of the statement's starting snapshot. To stop the
 * statement at that point, a trigger (this test's own, in its schema) holds the update of an older run, which the
 * claim locks and updates first, on an advisory lock the test holds. SQLite has one writer at a time: a claim
 * never overlaps another transaction.
 */
describe("a claimed run's journal (postgres, a step committed while the claim runs)", () => {
  const t = useTestStorage(postgresBackend);

  it("holds a step committed after the claiming statement started, before it locked the run", async () => {
    const storage = t.storage;
    await storage.migrate();
    const schema = t.db.env.TENON_POSTGRES_SCHEMA as string;
    const gate = randomInt(1, 2 ** 31 - 1);
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    const other = t.db.open();
    try {
      await admin.query(`CREATE FUNCTION ${schema}.hold_claim() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_lock(${gate}); PERFORM pg_advisory_unlock(${gate}); RETURN NEW; END $$`);
      await admin.query(`CREATE TRIGGER hold_claim BEFORE UPDATE ON ${schema}.runs FOR EACH ROW
        WHEN (OLD.id = 'older') EXECUTE FUNCTION ${schema}.hold_claim()`);
      await enqueue(storage, "older", t0);
      await enqueue(storage, "r1", t0 + 1);
      await admin.query("SELECT pg_advisory_lock($1)", [gate]);

      // Its snapshot has both runs queued and no steps; it locks "older" and waits in the trigger.
      const claiming = claim(storage, "b", t0 + 100);
      await waitFor("the claim to wait in the trigger", async () => {
        const { rows } = await admin.query(
          "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted",
          [gate],
        );
        return rows.length > 0;
      });
      // Another worker skips the locked "older", claims r1, journals a step and hands r1 back (a fenced worker).
      await other.migrate();
      expect((await claim(other, "c", t0 + 50, 1, 2)).map((r) => r.id)).toEqual(["r1"]);
      expect(await other.applyTransitions([recordStep("r1", "c", "one", t0 + 51)])).toEqual([true]);
      expect(await other.applyTransitions([interrupt("r1", "c", t0 + 52)])).toEqual([true]);
      await admin.query("SELECT pg_advisory_unlock($1)", [gate]);

      const claimed = await claiming;
      expect(claimed.map((r) => [r.id, r.firstClaim])).toEqual([
        ["older", true],
        ["r1", false],
      ]);
      expect(journalOf(claimed, "r1")).toEqual([["one", '"one done"']]);
    } finally {
      await admin.query("SELECT pg_advisory_unlock_all()");
      await admin.end();
      await other.close();
    }
  });
});
