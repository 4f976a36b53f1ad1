import type { Clock } from "../runtime/clock.ts";
import { defineIntegration, type Integration, type RunContext } from "../sdk/define-integration.ts";
import { fullPassEveryMs, type Reconciliation, type RepairEvent } from "../sdk/define-reconciliation.ts";
import { ConfigurationError, NonRetryableError } from "../sdk/errors.ts";
import type { AcceptResult, Storage } from "../storage/contract.ts";
import { findingTypes, type ReconciliationSummary, type ReportCounts } from "../storage/reconcile-store.ts";
import {
  type ReconcileRunPayload,
  reconcileEventSource,
  reconcileIntegrationId,
  repairIntegrationId,
  type Send,
} from "./reconcile-ids.ts";
import type { RepairRequest } from "./request-repairs.ts";
import { runReconciliation } from "./run-reconciliation.ts";

function scheduleIntegrationId(id: string): string {
  return `tenon-reconcile-schedule.${id}`;
}

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
    fullPassEveryMs: fullPassEveryMs(reconciliation),
  };
}

/** Starts a reconciliation run now; runIds is empty when no such reconciliation runs in this deployment. */
export function requestReconciliationRun(send: Send, id: string, payload: ReconcileRunPayload): Promise<AcceptResult> {
  return send({ source: reconcileEventSource, type: reconcileIntegrationId(id), payload });
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
