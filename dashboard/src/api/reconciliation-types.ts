/** The reconciliations API's answers (src/server/reconciliation-routes.ts, docs/reconciliation.md). */

export type FindingType = "missing_left" | "missing_right" | "mismatch";

export type RepairMode = "report" | "auto" | "approve";

/** A compared value after its normalisers: money in minor units, instants in epoch ms, text as normalised. */
export type NormalizedValue = string | number | boolean | null;

export interface ReportCounts {
  leftRecords: number;
  rightRecords: number;
  matched: number;
  missingLeft: number;
  missingRight: number;
  mismatched: number;
  mismatchedByField: Record<string, number>;
  unkeyedRecords?: number;
  newFindings?: number;
  resolvedFindings?: number;
  repairsRequested?: number;
}

export interface ReconcileReport {
  reconciliation: string;
  number: number;
  runId: string;
  dryRun: boolean;
  status: "running" | "complete" | "abandoned";
  startedAt: string;
  finishedAt: string | null;
  counts: ReportCounts | null;
}

export interface ReconciliationListing {
  id: string;
  schedule: string | null;
  mode: RepairMode;
  /** Finding types with a repair action. */
  repairs: FindingType[];
  fields: string[];
  openFindings: number;
  latestReport: ReconcileReport | null;
}

/** One record of a side as a report keeps it: its compared values and what the definition's `show` picked. */
export interface FindingRecord {
  fields: Record<string, NormalizedValue>;
  shown: Record<string, unknown>;
}

export interface FindingSide {
  records: FindingRecord[];
  /** A mismatch's value on this side (several when records sharing the key disagree). */
  value?: NormalizedValue | NormalizedValue[];
}

export interface ReportFinding {
  id: string;
  type: FindingType;
  key: string;
  field: string | null;
  left: FindingSide | null;
  right: FindingSide | null;
}

/** A finding with its life across runs. */
export interface OpenFinding extends ReportFinding {
  firstSeenAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
  occurrence: number;
  repairRequestedAt: string | null;
  repairRequestedBy: string | null;
}

export type RepairOutcome =
  | { findingId: string; status: "requested"; runId: string | null }
  | { findingId: string; status: "already_requested" }
  | { findingId: string; status: "skipped"; reason: string };
