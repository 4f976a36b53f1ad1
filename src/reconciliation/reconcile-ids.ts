import type { SendEventInput } from "../engine/engine.ts";
import type { AcceptResult } from "../storage/contract.ts";

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

/** What starts a reconciliation run. */
export interface ReconcileRunPayload {
  /** List and match, report what would be repaired; no finding is settled and nothing is repaired. */
  dryRun: boolean;
  /** A full pass even if the reconciliation is incremental and its last full pass is recent. */
  full?: boolean;
  requestedBy: string;
}

export type Send = (event: SendEventInput) => Promise<AcceptResult>;
