import type { SendEventInput } from "../engine/engine.ts";
import type { ReconcileFinding } from "../sdk/define-reconciliation.ts";
import type { AcceptResult, Storage } from "../storage/contract.ts";
import type { FindingType } from "../storage/reconcile-store.ts";
import { reconcileEventSource, repairIntegrationId, type Send } from "./reconcile-ids.ts";

/** Findings repaired per step: each step sends their repair events and notes them, in one journaled unit. */
export const repairBatch = 200;

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

export type RepairOutcome =
  | { findingId: string; status: "requested"; runId: string | null }
  /** A repair of this finding's current occurrence was requested before: no second one. */
  | { findingId: string; status: "already_requested" }
  | { findingId: string; status: "skipped"; reason: string };

/**
 * An operator's "repair these": each open finding of the reconciliation whose type has a repair gets its repair
 * run, whose event id is derived from the finding's occurrence, so a finding already repaired (by auto mode, or
 * a second click) is not repaired twice. Refused for a reconciliation in "report" mode.
 */
export async function repairSelectedFindings(input: {
  storage: Storage;
  send: (event: SendEventInput) => Promise<AcceptResult>;
  reconciliationId: string;
  findingIds: string[];
  by: string;
  at: number;
}): Promise<RepairOutcome[] | { refused: string }> {
  const { storage, reconciliationId } = input;
  const summary = await storage.reconcile.getReconciliation(reconciliationId);
  if (!summary) return { refused: `no reconciliation "${reconciliationId}"` };
  if (summary.mode === "report") {
    return {
      refused: `reconciliation "${reconciliationId}" only reports (repair.mode "report"): set repair.mode to "approve" (or "auto") in its definition to repair from here`,
    };
  }
  const found = new Map((await storage.reconcile.getFindings(input.findingIds)).map((f) => [f.id, f]));
  const outcomes: RepairOutcome[] = [];
  const requested: string[] = [];
  for (const findingId of input.findingIds) {
    const finding = found.get(findingId);
    const skip = (reason: string) => outcomes.push({ findingId, status: "skipped", reason });
    if (!finding || finding.reconciliationId !== reconciliationId) {
      skip(`no finding ${findingId} in reconciliation "${reconciliationId}"`);
      continue;
    }
    if (finding.resolvedAt !== null) {
      skip(`finding ${findingId} was resolved at ${new Date(finding.resolvedAt).toISOString()}: nothing to repair`);
      continue;
    }
    if (!summary.repairs.includes(finding.type)) {
      skip(`reconciliation "${reconciliationId}" has no repair for ${finding.type} findings`);
      continue;
    }
    const accepted = await sendRepair(input.send, toRepairRequest(finding));
    if (accepted.duplicate) {
      outcomes.push({ findingId, status: "already_requested" });
      continue;
    }
    requested.push(findingId);
    outcomes.push({ findingId, status: "requested", runId: accepted.runIds[0] ?? null });
  }
  await storage.reconcile.markRepairRequested(requested, input.by, input.at);
  return outcomes;
}
