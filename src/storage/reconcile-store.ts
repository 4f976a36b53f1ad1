/**
 * The part of the storage contract that reconciliation needs (src/reconciliation/): the reconciliations a
 * deployment declares, a report per reconciliation run, the records its listers spill while it runs (so that
 * memory stays bounded whatever the size of the systems compared), the findings of each report, and each
 * finding's identity across runs. Both backends implement it with the same SQL (`reconcile-queries.ts`).
 */

export const findingTypes = ["missing_left", "missing_right", "mismatch"] as const;
/** missing_left: on the right only; missing_right: on the left only; mismatch: on both, a field differs. */
export type FindingType = (typeof findingTypes)[number];
export type ReconcileSide = "left" | "right";

/** What is stored of a declared reconciliation: enough for the API and the CLI to describe it. */
export interface ReconciliationSummary {
  id: string;
  schedule: string | null;
  mode: "report" | "auto" | "approve";
  /** Finding types with a repair action. */
  repairs: FindingType[];
  /** The compared fields. */
  fields: string[];
  /** An incremental reconciliation's `fullEvery`, in ms; null (or absent, stored before) when every run is a full pass. */
  fullPassEveryMs?: number | null;
}

export interface ReportCounts {
  leftRecords: number;
  rightRecords: number;
  /** Keys found on both sides with every compared field equal (within tolerance). */
  matched: number;
  missingLeft: number;
  missingRight: number;
  /** Keys on both sides with at least one field differing. */
  mismatched: number;
  mismatchedByField: Record<string, number>;
  /** Records without a key (match returned undefined, null or ""), left out of the comparison. */
  unkeyedRecords?: number;
  /** Set once findings are settled (not on a dry run): findings first seen, and open ones that are fixed now. */
  newFindings?: number;
  resolvedFindings?: number;
  /** Repairs started by this run (auto mode), or that it would start (dry run). */
  repairsRequested?: number;
}

/** full: every record of both sides listed; incremental: only those changed `since`, judged with the kept ones. */
export type ReconcilePass = "full" | "incremental";
/** spilled: both sides stored, then read back in key order; streamed: both listers sorted, merged as they came. */
export type ReconcileMerge = "spilled" | "streamed";

export interface ReconcileReport {
  runId: string;
  reconciliationId: string;
  /** 1, 2, 3… per reconciliation. */
  number: number;
  dryRun: boolean;
  /** abandoned: its run ended without completing it (dead, failed), and a later run dropped its spilled records. */
  status: "running" | "complete" | "abandoned";
  pass: ReconcilePass;
  /** An incremental pass's `since` (epoch ms): the start of the last completed run. */
  since: number | null;
  /** How the sides were matched; null until the report is complete. */
  merge: ReconcileMerge | null;
  /** Why sorted listers were merged through storage after all (a key out of order), if they were. */
  mergeNote: string | null;
  startedAt: number;
  finishedAt: number | null;
  counts: ReportCounts | null;
}

/** A spilled record, as stored: its key and its JSON (compared values and what a report shows). */
export interface SpilledRecord {
  key: string;
  fieldsJson: string;
  /** The record's id in its system (`left.id`/`right.id`): what incremental passes replace kept records by. */
  recordId?: string | null;
}

/** The runs whose records an incremental pass judges against, and when they ran. */
export interface KeptPasses {
  /** When the newest completed run (not a dry run) started; null when none has completed. */
  lastStartedAt: number | null;
  /** When the newest completed full pass (not a dry run) started. */
  lastFullStartedAt: number | null;
  /** The newest completed full pass and the completed passes after it (not dry runs), oldest first. */
  runIds: string[];
}

export interface SpilledRow extends SpilledRecord {
  page: number;
  position: number;
}

export interface NewReportFinding {
  /** Stable across runs: reconciliation + type + key (+ field). */
  id: string;
  type: FindingType;
  key: string;
  field: string | null;
  leftJson: string | null;
  rightJson: string | null;
}

export interface ReportFinding extends NewReportFinding {}

export interface Finding extends NewReportFinding {
  reconciliationId: string;
  firstSeenAt: number;
  lastSeenAt: number;
  lastRunId: string;
  resolvedAt: number | null;
  /** 1 the first time; a finding fixed and seen again is the same finding, in its next occurrence. */
  occurrence: number;
  repairRequestedAt: number | null;
  repairRequestedBy: string | null;
}

export interface OpenFindingCount {
  reconciliationId: string;
  open: number;
  /** When the newest open finding was first seen. */
  newestAt: number;
}

/** A reconciliation's findings of one type over its life: what was found, what is still open, what was repaired. */
export interface FindingTally {
  reconciliationId: string;
  type: FindingType;
  /** Findings ever opened; one that came back after a fix is still one. */
  seen: number;
  open: number;
  /** Resolved by a run after a repair was requested for them: repaired, and seen to be. */
  repaired: number;
}

export interface ReconcileStore {
  /** Replaces the stored description of these reconciliations (a process starting with its config). */
  saveReconciliations(summaries: ReconciliationSummary[], at: number): Promise<void>;
  listReconciliations(): Promise<ReconciliationSummary[]>;
  getReconciliation(id: string): Promise<ReconciliationSummary | undefined>;

  /**
   * The run's report, numbered after the reconciliation's last one; the same report when called again for a run.
   * Reports of the reconciliation's earlier runs still running are abandoned (runs of one reconciliation go one at
   * a time, so theirs ended without completing) and their spilled records dropped.
   */
  beginReport(input: {
    runId: string;
    reconciliationId: string;
    dryRun: boolean;
    pass: ReconcilePass;
    since: number | null;
    at: number;
  }): Promise<ReconcileReport>;
  /** What an incremental pass of this reconciliation starts from. */
  keptPasses(reconciliationId: string): Promise<KeptPasses>;
  /**
   * The records of `side` kept by the runs `keptRunIds` under these keys, in key order, each record as the newest
   * of those runs (or `runId`, the pass in progress) listed it: a record listed again, under whatever key, is no
   * longer where an older run saw it.
   */
  readKept(input: { runId: string; keptRunIds: string[]; side: ReconcileSide; keys: string[] }): Promise<SpilledRow[]>;
  /** Stores one page of a side's records, replacing what a previous attempt of the same page stored. */
  spillPage(input: { runId: string; side: ReconcileSide; page: number; records: SpilledRecord[] }): Promise<void>;
  /** A side's spilled records in key order (bytes), after `after`, `limit` at most. */
  readSpilled(input: {
    runId: string;
    side: ReconcileSide;
    after: { key: string; page: number; position: number } | null;
    limit: number;
  }): Promise<SpilledRow[]>;
  /** How many records a run spilled on a side. */
  countSpilled(runId: string, side: ReconcileSide): Promise<number>;
  /** Forgets the report's findings (a matching pass starting again). */
  clearReportFindings(runId: string): Promise<void>;
  addReportFindings(runId: string, findings: NewReportFinding[]): Promise<void>;
  /**
   * Carries the report's findings into their identity across runs, as seen at `at`: new ones are opened, known
   * open ones are seen again, fixed ones seen again open their next occurrence; open findings of this
   * reconciliation the report does not have are resolved. Safe to call again for the same run.
   */
  settleFindings(input: {
    runId: string;
    reconciliationId: string;
    at: number;
    /** An incremental pass: only open findings of keys this run listed are resolved; it judged no others. */
    listedKeysOnly?: boolean;
  }): Promise<{
    newFindings: number;
    resolvedFindings: number;
  }>;
  /**
   * Marks the report complete with its counts and drops its spilled records, unless `keepRecords` (a pass of an
   * incremental reconciliation: later passes judge against them). A full pass, once complete, drops the records
   * every earlier run kept.
   */
  completeReport(input: {
    runId: string;
    counts: ReportCounts;
    merge: ReconcileMerge;
    mergeNote: string | null;
    keepRecords: boolean;
    at: number;
  }): Promise<void>;
  /** The report numbered `number`, or the newest when `number` is "latest". */
  getReport(reconciliationId: string, number: number | "latest"): Promise<ReconcileReport | undefined>;
  listReports(reconciliationId: string, limit: number): Promise<ReconcileReport[]>;
  listReportFindings(
    runId: string,
    options: { limit: number; offset?: number; type?: FindingType },
  ): Promise<ReportFinding[]>;
  /** Open findings of a reconciliation in key order, after `afterId` (key, id), of the given types. */
  listOpenFindings(input: {
    reconciliationId: string;
    types?: FindingType[];
    /** Only those no repair was requested for in their current occurrence. */
    unrepaired?: boolean;
    after?: { key: string; id: string };
    limit: number;
  }): Promise<Finding[]>;
  getFindings(ids: string[]): Promise<Finding[]>;
  /** Notes that a repair was requested for these findings (their current occurrence). */
  markRepairRequested(ids: string[], by: string, at: number): Promise<void>;
  /** Per reconciliation with open findings: how many, and when the newest was first seen. */
  countOpenFindings(): Promise<OpenFindingCount[]>;
  /** Per reconciliation and finding type that has any: found, open and repaired (the demo's summary). */
  tallyFindings(): Promise<FindingTally[]>;
}
