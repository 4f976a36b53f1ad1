import type { SendEventInput } from "../engine/engine.ts";
import type { Clock } from "../runtime/clock.ts";
import { defineIntegration, type Integration, type RunContext } from "../sdk/define-integration.ts";
import type { ReconcileFinding, Reconciliation, RepairEvent } from "../sdk/define-reconciliation.ts";
import { ConfigurationError, NonRetryableError } from "../sdk/errors.ts";
import type { AcceptResult, Storage } from "../storage/contract.ts";
import {
  type FindingType,
  findingTypes,
  type ReconciliationSummary,
  type ReportCounts,
} from "../storage/reconcile-store.ts";
import { type MatchCounts, matchSpilled } from "./sorted-merge.ts";
import { spillRecords } from "./spill-records.ts";

/** The source of the events that start reconciliation runs and repairs. */
export const reconcileEventSource = "tenon-reconcile";

/** The built-in integration that runs a reconciliation, and the event type that starts it. */
export function reconcileIntegrationId(id: string): string {
  return `tenon-reconcile.${id}`;
}

/** The built-in integration that makes one repair, and the event type that starts it. */
export function repairIntegrationId(id: string): string {
  return `tenon-reconcile-repair.${id}`;
}

function scheduleIntegrationId(id: string): string {
  return `tenon-reconcile-schedule.${id}`;
}

/** What starts a reconciliation run. */
export interface ReconcileRunPayload {
  /** List and match, report what would be repaired; no finding is settled and nothing is repaired. */
  dryRun: boolean;
  requestedBy: string;
}

type Send = (event: SendEventInput) => Promise<AcceptResult>;

export interface Reconciliations {
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type live side by side
  integrations: Integration<any, any>[];
  /** Stores the reconciliations' description (the API and the CLI list them); once storage is migrated. */
  start(): Promise<void>;
}

/**
 * The config's reconciliations as built-in integrations of the engine: per reconciliation, one that runs it
 * (`tenon-reconcile.<id>`, one run at a time), one that makes a repair (`tenon-reconcile-repair.<id>`, a run per
 * finding) and, with a schedule, a cron integration that starts a run on each tick. Every run is durable like
 * any other: listing pages are journaled steps, repairs are runs with idempotency keys of their own.
 */
export function createReconciliations(options: {
  // biome-ignore lint/suspicious/noExplicitAny: reconciliations of any record types live side by side
  reconciliations: readonly Reconciliation<any, any>[];
  storage: Storage;
  clock: Clock;
  /** The engine's send (set once it runs): events are stored durably, a second one with the same id is a duplicate. */
  send: Send;
}): Reconciliations {
  const { reconciliations, storage, clock, send } = options;
  const seen = new Set<string>();
  for (const reconciliation of reconciliations) {
    if (seen.has(reconciliation.id)) {
      throw new ConfigurationError(`two reconciliations have the id "${reconciliation.id}"; ids must be unique`);
    }
    seen.add(reconciliation.id);
  }
  const integrations = reconciliations.flatMap((reconciliation) => {
    const runner = defineIntegration<ReconcileRunPayload, ReportCounts>({
      id: reconcileIntegrationId(reconciliation.id),
      trigger: { event: reconcileIntegrationId(reconciliation.id), source: reconcileEventSource },
      // One run of a reconciliation at a time: a second waits for the first, so reports never interleave.
      concurrency: { key: () => reconciliation.id },
      retries: { maxAttempts: 10, initialDelay: "1s", maxDelay: "1m" },
      run: (context) => runReconciliation(reconciliation, context, { storage, clock, send }),
    });
    const repairer = defineIntegration<RepairRequest>({
      id: repairIntegrationId(reconciliation.id),
      trigger: { event: repairIntegrationId(reconciliation.id), source: reconcileEventSource },
      retries: { maxAttempts: 10, initialDelay: "1s", maxDelay: "5m" },
      run: (context) => runRepair(reconciliation, context, send),
    });
    const schedule = reconciliation.schedule;
    if (schedule === undefined) return [runner, repairer];
    const cron = typeof schedule === "string" ? { cron: schedule } : schedule;
    const scheduled = defineIntegration({
      id: scheduleIntegrationId(reconciliation.id),
      trigger: cron,
      run: async ({ step, run }) => {
        await step.run("start-reconciliation", () =>
          send({
            source: reconcileEventSource,
            type: reconcileIntegrationId(reconciliation.id),
            // The tick's run id: a retried step stores no second run.
            id: `schedule:${run.id}`,
            payload: { dryRun: false, requestedBy: "schedule" } satisfies ReconcileRunPayload,
          }),
        );
      },
    });
    return [runner, repairer, scheduled];
  });
  return {
    integrations,
    async start() {
      await storage.reconcile.saveReconciliations(reconciliations.map(summaryOf), clock.now());
    },
  };
}

export function summaryOf(reconciliation: Reconciliation): ReconciliationSummary {
  const schedule = reconciliation.schedule;
  return {
    id: reconciliation.id,
    schedule: schedule === undefined ? null : typeof schedule === "string" ? schedule : schedule.cron,
    mode: reconciliation.mode,
    repairs: findingTypes.filter((type) => reconciliation.repair?.[type] !== undefined),
    fields: Object.keys(reconciliation.compare ?? {}),
  };
}

/** Starts a reconciliation run now; runIds is empty when no such reconciliation runs in this deployment. */
export function requestReconciliationRun(send: Send, id: string, payload: ReconcileRunPayload): Promise<AcceptResult> {
  return send({ source: reconcileEventSource, type: reconcileIntegrationId(id), payload });
}

interface RunDeps {
  storage: Storage;
  clock: Clock;
  send: Send;
}

/** Findings repaired per step: each step sends their repair events and notes them, in one journaled unit. */
const repairBatch = 200;

async function runReconciliation(
  reconciliation: Reconciliation,
  { event, step, run, connection }: RunContext<ReconcileRunPayload>,
  { storage, clock, send }: RunDeps,
): Promise<ReportCounts> {
  const store = storage.reconcile;
  const dryRun = event.payload?.dryRun === true;
  const report = await step.run("begin", () =>
    store.beginReport({ runId: run.id, reconciliationId: reconciliation.id, dryRun, at: clock.now() }),
  );
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
        const answer = await reconciliation[side].list({ cursor: from, connection, asOf: report.startedAt });
        const records = checkPage(answer, reconciliation.id, side, pageNumber);
        const spilled = spillRecords(reconciliation, side, records, pageNumber);
        await store.spillPage({ runId: run.id, side, page: pageNumber, records: spilled.records });
        return {
          nextCursor: answer.nextCursor ?? null,
          records: records.length,
          rows: spilled.records.length,
          unkeyed: spilled.unkeyed,
        };
      });
      if (stored.nextCursor !== null && stored.nextCursor === from) {
        throw new NonRetryableError(
          `reconciliation "${reconciliation.id}": ${side}.list returned the cursor it was given (${from}); it must move on, or be null after the last page`,
        );
      }
      listed[side] += stored.records;
      spilledRows[side] += stored.rows;
      listed.unkeyed += stored.unkeyed;
      cursor = stored.nextCursor;
      page += 1;
    } while (cursor !== null);
  }
  const matched: MatchCounts = await step.run("match", async () => {
    for (const side of ["left", "right"] as const) {
      const stored = await store.countSpilled(run.id, side);
      if (stored !== spilledRows[side]) {
        // A run replayed after a later run abandoned its report: its pages are gone, and its report would lie.
        throw new NonRetryableError(
          `reconciliation "${reconciliation.id}": this run's ${side} records are no longer stored (${stored} of ${spilledRows[side]}; a later run dropped them): start a new run instead`,
        );
      }
    }
    // Starting again after a crash mid-way: the findings of the interrupted pass go first.
    await store.clearReportFindings(run.id);
    return matchSpilled(store, run.id, reconciliation);
  });
  const counts: ReportCounts = { leftRecords: listed.left, rightRecords: listed.right, ...matched };
  if (listed.unkeyed > 0) counts.unkeyedRecords = listed.unkeyed;
  const repairable = findingTypes.filter((type) => reconciliation.repair?.[type] !== undefined);
  if (dryRun) {
    if (reconciliation.mode === "auto") counts.repairsRequested = countRepairable(matched, repairable);
  } else {
    const settled = await step.run("settle", () =>
      store.settleFindings({ runId: run.id, reconciliationId: reconciliation.id, at: report.startedAt }),
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
  await step.run("complete", () => store.completeReport({ runId: run.id, counts, at: clock.now() }));
  return counts;
}

function countRepairable(counts: MatchCounts, types: FindingType[]): number {
  const byType: Record<FindingType, number> = {
    missing_left: counts.missingLeft,
    missing_right: counts.missingRight,
    mismatch: Object.values(counts.mismatchedByField).reduce((sum, n) => sum + n, 0),
  };
  return types.reduce((sum, type) => sum + byType[type], 0);
}

function checkPage(answer: unknown, id: string, side: string, page: number): unknown[] {
  const records = (answer as { records?: unknown } | null)?.records;
  const next = (answer as { nextCursor?: unknown } | null)?.nextCursor;
  if (!Array.isArray(records) || !(next === null || next === undefined || typeof next === "string")) {
    throw new NonRetryableError(
      `reconciliation "${id}": ${side}.list must return { records: [...], nextCursor: string | null }; page ${page + 1} did not`,
    );
  }
  return records;
}

/** What a repair run receives: the finding as it was when the repair was requested. */
export type RepairRequest = ReconcileFinding;

/**
 * Starts the repair runs of a reconciliation's open findings of these types that have none yet for their
 * current occurrence, up to a batch: each is an event whose id is derived from the finding (a repair requested
 * twice, by a retried step or by an operator too, stores one run), then the findings are marked.
 */
export async function requestRepairs(
  storage: Storage,
  send: Send,
  reconciliationId: string,
  types: FindingType[],
  by: string,
  at: number,
): Promise<number> {
  const findings = await storage.reconcile.listOpenFindings({
    reconciliationId,
    types,
    unrepaired: true,
    limit: repairBatch,
  });
  for (const finding of findings) await sendRepair(send, toRepairRequest(finding));
  await storage.reconcile.markRepairRequested(
    findings.map((finding) => finding.id),
    by,
    at,
  );
  return findings.length;
}

export function toRepairRequest(finding: {
  id: string;
  reconciliationId: string;
  type: FindingType;
  key: string;
  field: string | null;
  leftJson: string | null;
  rightJson: string | null;
  occurrence: number;
}): RepairRequest {
  return {
    id: finding.id,
    reconciliationId: finding.reconciliationId,
    type: finding.type,
    key: finding.key,
    field: finding.field,
    left: finding.leftJson === null ? null : JSON.parse(finding.leftJson),
    right: finding.rightJson === null ? null : JSON.parse(finding.rightJson),
    occurrence: finding.occurrence,
  };
}

/** The repair run's event: one per finding occurrence, whoever asks for it. */
export function sendRepair(send: Send, finding: RepairRequest): Promise<AcceptResult> {
  return send({
    source: reconcileEventSource,
    type: repairIntegrationId(finding.reconciliationId),
    id: `${finding.reconciliationId}:${finding.id}:${finding.occurrence}`,
    payload: finding,
  });
}

async function runRepair(
  reconciliation: Reconciliation,
  { event, step, connection }: RunContext<RepairRequest>,
  send: Send,
) {
  const finding = event.payload;
  const action = reconciliation.repair?.[finding.type];
  if (!action) {
    throw new NonRetryableError(
      `reconciliation "${reconciliation.id}" has no repair for ${finding.type} findings (repair.${finding.type} in its definition)`,
    );
  }
  if ("emit" in action) {
    return step.run("emit", async () => {
      const emitted = checkRepairEvent(await action.emit(finding, { connection }), reconciliation.id, finding.type);
      // Derived from the finding: the repair's event is stored once however often this step runs.
      const result = await send({
        source: emitted.source ?? reconcileEventSource,
        type: emitted.type,
        id: `tenon-reconcile:${reconciliation.id}:${finding.id}:${finding.occurrence}`,
        payload: emitted.payload,
      });
      return { eventId: result.eventId, duplicate: result.duplicate, runIds: result.runIds };
    });
  }
  return step.run("repair", (context) => action.run(finding, { ...context, connection }));
}

function checkRepairEvent(event: unknown, id: string, type: string): RepairEvent {
  const candidate = event as Partial<RepairEvent> | null;
  if (
    typeof candidate?.type !== "string" ||
    candidate.type === "" ||
    !(candidate.source === undefined || typeof candidate.source === "string")
  ) {
    throw new NonRetryableError(
      `reconciliation "${id}": repair.${type}.emit must return { type, payload, source? }, got ${JSON.stringify(event)?.slice(0, 200)}`,
    );
  }
  return candidate as RepairEvent;
}
