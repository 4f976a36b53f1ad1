import type { Clock } from "../runtime/clock.ts";
import type { RunContext } from "../sdk/define-integration.ts";
import { fullPassEveryMs, type Reconciliation } from "../sdk/define-reconciliation.ts";
import { NonRetryableError } from "../sdk/errors.ts";
import type { Storage } from "../storage/contract.ts";
import {
  type FindingType,
  findingTypes,
  type ReconcileMerge,
  type ReconcilePass,
  type ReportCounts,
} from "../storage/reconcile-store.ts";
import type { MatchCounts } from "./key-verdicts.ts";
import { listPage } from "./list-page.ts";
import { matchSpilled } from "./match-spilled.ts";
import { mergeSortedStreams } from "./merge-sorted-streams.ts";
import type { ReconcileRunPayload, Send } from "./reconcile-ids.ts";
import { repairBatch, requestRepairs } from "./request-repairs.ts";
import { spillRecords } from "./spill-records.ts";

interface RunDeps {
  storage: Storage;
  clock: Clock;
  send: Send;
}

interface Matched {
  counts: MatchCounts;
  listed: { left: number; right: number; unkeyed: number };
  merge: ReconcileMerge;
  mergeNote: string | null;
}

/**
 * One run of a reconciliation: decide the pass (full, or incremental since the last completed run), list and
 * match both sides (merged as they stream when both listers are sorted, through storage otherwise), settle the
 * findings, request the repairs (auto mode), and complete the report. Every stage is a journaled step.
 */
export async function runReconciliation(
  reconciliation: Reconciliation,
  context: RunContext<ReconcileRunPayload>,
  { storage, clock, send }: RunDeps,
): Promise<ReportCounts> {
  const { event, step, run } = context;
  const store = storage.reconcile;
  const fullEveryMs = fullPassEveryMs(reconciliation);
  const dryRun = event.payload?.dryRun === true;
  const begun = await step.run("begin", async () => {
    const plan = await planPass(reconciliation.id, fullEveryMs, storage, clock.now(), event.payload?.full === true);
    const report = await store.beginReport({
      runId: run.id,
      reconciliationId: reconciliation.id,
      dryRun,
      pass: plan.pass,
      since: plan.since,
      at: clock.now(),
    });
    return { report, keptRunIds: plan.keptRunIds };
  });
  const { report } = begun;
  const incremental = report.pass === "incremental";
  const matched = await matchSides(reconciliation, context, storage, {
    streams: fullEveryMs === null && reconciliation.left.sorted === true && reconciliation.right.sorted === true,
    since: report.since === null ? null : new Date(report.since),
    keptRunIds: incremental ? begun.keptRunIds : null,
    asOf: report.startedAt,
  });

  const counts: ReportCounts = {
    leftRecords: matched.listed.left,
    rightRecords: matched.listed.right,
    ...matched.counts,
  };
  if (matched.listed.unkeyed > 0) counts.unkeyedRecords = matched.listed.unkeyed;
  const repairable = findingTypes.filter((type) => reconciliation.repair?.[type] !== undefined);
  if (dryRun) {
    if (reconciliation.mode === "auto") counts.repairsRequested = countRepairable(matched.counts, repairable);
  } else {
    const settled = await step.run("settle", () =>
      store.settleFindings({
        runId: run.id,
        reconciliationId: reconciliation.id,
        at: report.startedAt,
        listedKeysOnly: incremental,
      }),
    );
    Object.assign(counts, settled);
    if (reconciliation.mode === "auto" && repairable.length > 0) {
      counts.repairsRequested = 0;
      for (;;) {
        const requested = await step.run("repair", () =>
          requestRepairs(storage, send, reconciliation.id, repairable, "auto", clock.now()),
        );
        counts.repairsRequested += requested;
        if (requested < repairBatch) break;
      }
    }
  }
  const { merge, mergeNote } = matched;
  await step.run("complete", () =>
    store.completeReport({
      runId: run.id,
      counts,
      merge,
      mergeNote,
      // An incremental reconciliation's passes keep their records: the next incremental pass judges against them.
      keepRecords: fullEveryMs !== null && !dryRun,
      at: clock.now(),
    }),
  );
  return counts;
}

/**
 * A full pass, unless the reconciliation is incremental, a full pass completed within `fullEvery` and this run
 * was not asked for a full one: then an incremental pass since the last completed run's start, judged against
 * the records that full pass and the passes since kept.
 */
async function planPass(
  reconciliationId: string,
  fullEveryMs: number | null,
  storage: Storage,
  now: number,
  fullAsked: boolean,
): Promise<{ pass: ReconcilePass; since: number | null; keptRunIds: string[] }> {
  const full = { pass: "full" as const, since: null, keptRunIds: [] };
  if (fullEveryMs === null || fullAsked) return full;
  const kept = await storage.reconcile.keptPasses(reconciliationId);
  if (kept.lastFullStartedAt === null || kept.lastStartedAt === null) return full;
  if (now - kept.lastFullStartedAt >= fullEveryMs) return full;
  return { pass: "incremental", since: kept.lastStartedAt, keptRunIds: kept.runIds };
}

/**
 * Both sides listed and judged: merged as they stream when both listers are sorted (and the records need not be
 * kept for incremental passes, which stores them anyway), else (or when a sorted lister was not) through storage.
 */
async function matchSides(
  reconciliation: Reconciliation,
  context: RunContext<ReconcileRunPayload>,
  storage: Storage,
  options: { streams: boolean; since: Date | null; keptRunIds: string[] | null; asOf: number },
): Promise<Matched> {
  let mergeNote: string | null = null;
  if (options.streams) {
    const streamed = await mergeSortedStreams(reconciliation, context, storage.reconcile, options.asOf);
    if (!("fallback" in streamed)) return { ...streamed, merge: "streamed", mergeNote };
    mergeNote = `merged through storage: ${streamed.fallback}`;
  }
  const spilled = await listAndMatch(reconciliation, context, storage, options);
  return { ...spilled, merge: "spilled", mergeNote };
}

/** Lists both sides into storage, a journaled step per page, then matches what was stored. */
async function listAndMatch(
  reconciliation: Reconciliation,
  { step, run, connection }: RunContext<ReconcileRunPayload>,
  storage: Storage,
  pass: { since: Date | null; keptRunIds: string[] | null; asOf: number },
): Promise<{ counts: MatchCounts; listed: Matched["listed"] }> {
  const store = storage.reconcile;
  const listed = { left: 0, right: 0, unkeyed: 0 };
  const spilledRows = { left: 0, right: 0 };
  for (const side of ["left", "right"] as const) {
    let cursor: string | null = null;
    let page = 0;
    do {
      const pageNumber = page;
      const from: string | null = cursor;
      // A journaled step per page: a crash resumes at the page after the last one stored, not from the start.
      const stored = await step.run(`list-${side}`, async () => {
        const page = await listAndKeyPage(
          reconciliation,
          side,
          { cursor: from, since: pass.since, asOf: pass.asOf, connection },
          pageNumber,
        );
        await store.spillPage({ runId: run.id, side, page: pageNumber, records: page.rows });
        return { nextCursor: page.nextCursor, records: page.records, rows: page.rows.length, unkeyed: page.unkeyed };
      });
      listed[side] += stored.records;
      spilledRows[side] += stored.rows;
      listed.unkeyed += stored.unkeyed;
      cursor = stored.nextCursor;
      page += 1;
    } while (cursor !== null);
  }
  const counts = await step.run("match", async () => {
    for (const side of ["left", "right"] as const) {
      const stored = await store.countSpilled(run.id, side);
      if (stored !== spilledRows[side]) {
        // A run replayed after a later run abandoned its report: its pages are gone, and its report would lie.
        throw new NonRetryableError(
          `reconciliation "${reconciliation.id}": this run's ${side} records are no longer stored (${stored} of ${spilledRows[side]}; a later run dropped them): start a new run instead`,
        );
      }
    }
    // Starting again after a crash mid-way (or after sorted listers turned out not to be): findings go first.
    await store.clearReportFindings(run.id);
    return matchSpilled(store, run.id, reconciliation, pass.keptRunIds);
  });
  return { counts, listed };
}

/**
 * One page listed and turned into the rows to store. The listed records go out of scope here, before the rows
 * are written: nothing holds a page of an API's answers while the database works.
 */
async function listAndKeyPage(
  reconciliation: Reconciliation,
  side: "left" | "right",
  request: Parameters<typeof listPage>[2],
  page: number,
) {
  const answer = await listPage(reconciliation, side, request, page);
  const spilled = spillRecords(reconciliation, side, answer.records, page);
  return {
    nextCursor: answer.nextCursor,
    records: answer.records.length,
    rows: spilled.records,
    unkeyed: spilled.unkeyed,
  };
}

function countRepairable(counts: MatchCounts, types: FindingType[]): number {
  const byType: Record<FindingType, number> = {
    missing_left: counts.missingLeft,
    missing_right: counts.missingRight,
    mismatch: Object.values(counts.mismatchedByField).reduce((sum, n) => sum + n, 0),
  };
  return types.reduce((sum, type) => sum + byType[type], 0);
}
