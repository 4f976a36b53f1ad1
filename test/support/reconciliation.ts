import type { Engine } from "../../src/engine/engine.ts";
import { createReconciliations, requestReconciliationRun } from "../../src/reconciliation/reconciliations.ts";
import type { Integration } from "../../src/sdk/define-integration.ts";
import type { Reconciliation } from "../../src/sdk/define-reconciliation.ts";
import type { Storage } from "../../src/storage/contract.ts";
import type { ReconcileReport } from "../../src/storage/reconcile-store.ts";
import type { ManualClock } from "./clock.ts";
import { testEngine, waitForRunStatus } from "./engine.ts";

/**
 * Records served a page at a time, the way an API lists them; `list` is what a side's `list` calls. With
 * `changedAt`, a `since` lists only the records changed at or after it (as `updated_at_min` does).
 */
export function pagedList<T>(
  records: () => T[],
  pageSize: number,
  options: { changedAt?: (record: T) => number } = {},
) {
  const calls: (string | null)[] = [];
  /** The `since` of each call. */
  const since: (Date | null)[] = [];
  return {
    calls,
    since,
    async list({ cursor, since: changedSince }: { cursor: string | null; since?: Date | null }) {
      calls.push(cursor);
      since.push(changedSince ?? null);
      const start = Number(cursor ?? 0);
      const { changedAt } = options;
      const all =
        changedSince && changedAt
          ? records().filter((record) => changedAt(record) >= changedSince.getTime())
          : records();
      const next = start + pageSize;
      return { records: all.slice(start, next), nextCursor: next < all.length ? String(next) : null };
    },
  };
}

export interface ReconcileEngine {
  engine: Engine;
  /** Runs the reconciliation to its end and returns its report. */
  run(id: string, options?: { dryRun?: boolean; full?: boolean }): Promise<ReconcileReport>;
  stop(): Promise<void>;
}

/** An engine with these reconciliations (and other integrations: what repairs emit to), started. */
export async function startReconcileEngine(
  storage: Storage,
  // biome-ignore lint/suspicious/noExplicitAny: reconciliations of any record types
  reconciliations: Reconciliation<any, any>[],
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type
  options: { integrations?: Integration<any, any>[]; clock?: ManualClock } = {},
): Promise<ReconcileEngine> {
  let engine: Engine | undefined;
  const built = createReconciliations({
    reconciliations,
    storage,
    clock: options.clock ?? { now: () => Date.now() },
    send: (event) => {
      if (!engine) throw new Error("the engine has not started");
      return engine.send(event);
    },
  });
  const started = testEngine({
    storage,
    integrations: [...(options.integrations ?? []), ...built.integrations],
    ...(options.clock ? { clock: options.clock } : {}),
    random: () => 0,
  });
  await started.start();
  engine = started;
  await built.start();
  return {
    engine: started,
    async run(id, runOptions = {}) {
      const accepted = await requestReconciliationRun(started.send, id, {
        dryRun: runOptions.dryRun === true,
        ...(runOptions.full ? { full: true } : {}),
        requestedBy: "test",
      });
      const runId = accepted.runIds[0];
      if (!runId) throw new Error(`no reconciliation "${id}" in this engine`);
      const run = await waitForRunStatus(storage, runId, ["succeeded", "failed", "dead"], 60_000);
      if (run.status !== "succeeded")
        throw new Error(`reconciliation run ${runId} ended ${run.status}: ${run.lastError}`);
      const reports = await storage.reconcile.listReports(id, 100);
      const report = reports.find((candidate) => candidate.runId === runId);
      if (!report) throw new Error(`run ${runId} stored no report`);
      return report;
    },
    stop: () => started.stop(),
  };
}
