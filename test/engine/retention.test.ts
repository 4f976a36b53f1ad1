import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { PrunedRows } from "../../src/storage/retention-store.ts";
import { backends, type TestDatabase, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { insertOldRuns, type OldRunsTarget } from "../support/old-runs.ts";
import { startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";

const day = 86_400_000;
const oldRuns = 5000;
const batchSize = 500;

function targetOf(db: TestDatabase): OldRunsTarget {
  const env = db.env;
  if (env.TENON_SQLITE_PATH) return { sqlitePath: env.TENON_SQLITE_PATH };
  return { databaseUrl: env.TENON_DATABASE_URL as string, schema: env.TENON_POSTGRES_SCHEMA as string };
}

const paid = defineIntegration({
  id: "on-payment",
  trigger: { event: "payment_intent.succeeded", source: "stripe" },
  run: async ({ step }) => {
    await step.run("record", () => true);
  },
});

describe.each(backends)("retention in a running engine ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("prunes 5,000 old runs in batches of 500 while webhooks are accepted; every accepted event and its run stay", async () => {
    await t.storage.migrate();
    await insertOldRuns(targetOf(t.db), { count: oldRuns, finishedAt: Date.now() - 40 * day });
    const reports: PrunedRows[] = [];
    let pruned = 0;
    const engine = testEngine({
      storage: t.storage,
      integrations: [paid],
      retention: {
        firstPassAfterMs: 0,
        batchSize,
        pauseMs: 20,
        onPruned: (rows) => {
          reports.push(rows);
          pruned += rows.runs;
        },
      },
    });
    await engine.start();
    const http = await startTestServer(engine);
    const accepted: string[] = [];
    let acceptedWhilePruning = 0;
    try {
      // Webhooks one after another, from the engine's start until its first pass has pruned every old run.
      for (let n = 0; pruned < oldRuns || n < 20; n++) {
        const response = await http.post("/hooks/stripe", stripeRequest(`evt_during_pruning_${n}`));
        expect(response.status).toBe(200);
        accepted.push(response.json.id);
        if (pruned > 0 && pruned < oldRuns) acceptedWhilePruning++;
      }
      for (const eventId of accepted) {
        const [run] = await t.storage.listRuns({ eventId });
        expect(run, eventId).toBeDefined();
        await waitForRunStatus(t.storage, run?.id as string, "succeeded");
      }
    } finally {
      await http.server.close();
      await engine.stop();
    }

    expect(acceptedWhilePruning).toBeGreaterThan(0);
    expect(reports.length).toBeGreaterThanOrEqual(oldRuns / batchSize);
    for (const rows of reports) expect(rows.runs).toBeLessThanOrEqual(batchSize);
    const sum = (table: keyof PrunedRows) => reports.reduce((total, rows) => total + rows[table], 0);
    expect({
      runs: sum("runs"),
      events: sum("events"),
      steps: sum("steps"),
      history: sum("run_history"),
      audit: sum("audit_log"),
    }).toEqual({
      runs: oldRuns,
      events: oldRuns,
      steps: 2 * oldRuns,
      history: oldRuns,
      audit: oldRuns,
    });
    expect(await t.storage.getRun("old-r-1")).toBeNull();
    for (const eventId of accepted) expect(await t.storage.getEvent(eventId), eventId).not.toBeNull();
    expect(await t.storage.countRunsByStatus()).toEqual({ succeeded: accepted.length });
  });
});
