import type { SendEventInput } from "../engine/engine.ts";
import type { AcceptResult, Storage } from "../storage/contract.ts";
import { sendRepair, toRepairRequest } from "./reconciliations.ts";

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
