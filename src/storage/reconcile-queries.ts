import { type Kysely, type RawBuilder, sql } from "kysely";
import type {
  Finding,
  FindingTally,
  FindingType,
  KeptPasses,
  NewReportFinding,
  OpenFindingCount,
  ReconcileMerge,
  ReconcilePass,
  ReconcileReport,
  ReconcileSide,
  ReconcileStore,
  ReconciliationSummary,
  ReportCounts,
  ReportFinding,
  SpilledRecord,
  SpilledRow,
} from "./reconcile-store.ts";

interface ReportRow {
  run_id: string;
  reconciliation_id: string;
  number: number | string;
  dry_run: number | string;
  status: string;
  pass: string;
  since: number | string | null;
  merge_method: string | null;
  merge_note: string | null;
  started_at: number | string;
  finished_at: number | string | null;
  counts: string | null;
}

interface FindingRow {
  id: string;
  reconciliation_id: string;
  type: string;
  match_key: string;
  field: string | null;
  left_fields: string | null;
  right_fields: string | null;
  first_seen_at: number | string;
  last_seen_at: number | string;
  last_run_id: string;
  resolved_at: number | string | null;
  occurrence: number | string;
  repair_requested_at: number | string | null;
  repair_requested_by: string | null;
}

const nullableNumber = (value: number | string | null): number | null => (value === null ? null : Number(value));

function reportFromRow(row: ReportRow): ReconcileReport {
  return {
    runId: row.run_id,
    reconciliationId: row.reconciliation_id,
    number: Number(row.number),
    dryRun: Number(row.dry_run) === 1,
    status: row.status as ReconcileReport["status"],
    pass: row.pass as ReconcilePass,
    since: nullableNumber(row.since),
    merge: row.merge_method as ReconcileMerge | null,
    mergeNote: row.merge_note,
    startedAt: Number(row.started_at),
    finishedAt: nullableNumber(row.finished_at),
    counts: row.counts === null ? null : (JSON.parse(row.counts) as ReportCounts),
  };
}

function findingFromRow(row: FindingRow): Finding {
  return {
    id: row.id,
    reconciliationId: row.reconciliation_id,
    type: row.type as FindingType,
    key: row.match_key,
    field: row.field,
    leftJson: row.left_fields,
    rightJson: row.right_fields,
    firstSeenAt: Number(row.first_seen_at),
    lastSeenAt: Number(row.last_seen_at),
    lastRunId: row.last_run_id,
    resolvedAt: nullableNumber(row.resolved_at),
    occurrence: Number(row.occurrence),
    repairRequestedAt: nullableNumber(row.repair_requested_at),
    repairRequestedBy: row.repair_requested_by,
  };
}

/** Rows per INSERT: far below SQLite's 32,766 variables and PostgreSQL's 65,535 parameters. */
const insertBatch = 1000;

/**
 * Reconciliation's reads and writes, the same SQL on both backends. Every write is one statement, so none
 * needs a transaction (on SQLite, Kysely's would share the connection with the engine's own statements), and
 * each is safe to repeat: a step that stored a page and crashed before it was journaled stores it again.
 */
export class ReconcileQueries implements ReconcileStore {
  readonly #db: Kysely<unknown>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  async #rows<T>(query: RawBuilder<unknown>): Promise<T[]> {
    return (await query.execute(this.#db)).rows as T[];
  }

  async saveReconciliations(summaries: ReconciliationSummary[], at: number): Promise<void> {
    for (const summary of summaries) {
      await sql`INSERT INTO reconciliations (id, definition, updated_at) VALUES (${summary.id}, ${JSON.stringify(summary)}, ${at})
        ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`.execute(
        this.#db,
      );
    }
  }

  async listReconciliations(): Promise<ReconciliationSummary[]> {
    const rows = await this.#rows<{ definition: string }>(sql`SELECT definition FROM reconciliations ORDER BY id`);
    return rows.map((row) => JSON.parse(row.definition) as ReconciliationSummary);
  }

  async getReconciliation(id: string): Promise<ReconciliationSummary | undefined> {
    const [row] = await this.#rows<{ definition: string }>(
      sql`SELECT definition FROM reconciliations WHERE id = ${id}`,
    );
    return row ? (JSON.parse(row.definition) as ReconciliationSummary) : undefined;
  }

  async beginReport(input: {
    runId: string;
    reconciliationId: string;
    dryRun: boolean;
    pass: ReconcilePass;
    since: number | null;
    at: number;
  }): Promise<ReconcileReport> {
    const abandoned = sql`SELECT run_id FROM reconcile_reports
      WHERE reconciliation_id = ${input.reconciliationId} AND status = 'running' AND run_id <> ${input.runId}`;
    await sql`DELETE FROM reconcile_records WHERE run_id IN (${abandoned})`.execute(this.#db);
    await sql`UPDATE reconcile_reports SET status = 'abandoned'
      WHERE reconciliation_id = ${input.reconciliationId} AND status = 'running' AND run_id <> ${input.runId}`.execute(
      this.#db,
    );
    // The next number in the same statement; runs of one reconciliation are one at a time (a concurrency key),
    // and the unique (reconciliation_id, number) stops two numbering alike if they were not.
    await sql`INSERT INTO reconcile_reports (run_id, reconciliation_id, number, dry_run, status, pass, since, started_at)
      SELECT ${input.runId}, ${input.reconciliationId}, COALESCE(MAX(number), 0) + 1, ${input.dryRun ? 1 : 0}, 'running',
        ${input.pass}, ${input.since}, ${input.at}
      FROM reconcile_reports WHERE reconciliation_id = ${input.reconciliationId}
      ON CONFLICT (run_id) DO NOTHING`.execute(this.#db);
    const [row] = await this.#rows<ReportRow>(sql`SELECT * FROM reconcile_reports WHERE run_id = ${input.runId}`);
    if (!row) throw new Error(`the report of run ${input.runId} was not stored`);
    return reportFromRow(row);
  }

  async keptPasses(reconciliationId: string): Promise<KeptPasses> {
    const completed = sql`reconciliation_id = ${reconciliationId} AND status = 'complete' AND dry_run = 0`;
    const [full] = await this.#rows<{ number: number | string; started_at: number | string }>(
      sql`SELECT number, started_at FROM reconcile_reports WHERE ${completed} AND pass = 'full' ORDER BY number DESC LIMIT 1`,
    );
    if (!full) return { lastStartedAt: null, lastFullStartedAt: null, runIds: [] };
    const kept = await this.#rows<{ run_id: string; started_at: number | string }>(
      sql`SELECT run_id, started_at FROM reconcile_reports WHERE ${completed} AND number >= ${full.number} ORDER BY number`,
    );
    return {
      lastStartedAt: Number(kept.at(-1)?.started_at ?? full.started_at),
      lastFullStartedAt: Number(full.started_at),
      runIds: kept.map((row) => row.run_id),
    };
  }

  async readKept(input: {
    runId: string;
    keptRunIds: string[];
    side: ReconcileSide;
    keys: string[];
  }): Promise<SpilledRow[]> {
    const { runId, keptRunIds, side, keys } = input;
    if (keptRunIds.length === 0 || keys.length === 0) return [];
    // A kept record is where the newest of the runs listed it: one a later run (or this one) listed again is not.
    const rows = await this.#rows<{
      match_key: string;
      page: number | string;
      position: number | string;
      fields: string;
      record_id: string | null;
    }>(
      sql`SELECT r.match_key, r.page, r.position, r.fields, r.record_id FROM reconcile_records r
        JOIN reconcile_reports p ON p.run_id = r.run_id
        WHERE r.run_id IN (${sql.join(keptRunIds)}) AND r.side = ${side} AND r.match_key IN (${sql.join(keys)})
          AND NOT EXISTS (SELECT 1 FROM reconcile_records n JOIN reconcile_reports q ON q.run_id = n.run_id
            WHERE n.run_id IN (${sql.join([...keptRunIds, runId])}) AND n.side = r.side AND n.record_id = r.record_id
              AND q.number > p.number)
        ORDER BY r.match_key, p.number, r.page, r.position`,
    );
    return rows.map((row) => ({
      key: row.match_key,
      page: Number(row.page),
      position: Number(row.position),
      fieldsJson: row.fields,
      recordId: row.record_id,
    }));
  }

  async spillPage(input: {
    runId: string;
    side: ReconcileSide;
    page: number;
    records: SpilledRecord[];
  }): Promise<void> {
    const { runId, side, page } = input;
    await sql`DELETE FROM reconcile_records WHERE run_id = ${runId} AND side = ${side} AND page = ${page}`.execute(
      this.#db,
    );
    for (let start = 0; start < input.records.length; start += insertBatch) {
      const rows = input.records
        .slice(start, start + insertBatch)
        .map(
          (record, index) =>
            sql`(${runId}, ${side}, ${page}, ${start + index}, ${record.key}, ${record.fieldsJson}, ${record.recordId ?? null})`,
        );
      await sql`INSERT INTO reconcile_records (run_id, side, page, position, match_key, fields, record_id)
        VALUES ${sql.join(rows)}`.execute(this.#db);
    }
  }

  async readSpilled(input: {
    runId: string;
    side: ReconcileSide;
    after: { key: string; page: number; position: number } | null;
    limit: number;
  }): Promise<SpilledRow[]> {
    const { runId, side, after, limit } = input;
    const from = after
      ? sql`AND (match_key, page, position) > (${after.key}, ${after.page}, ${after.position})`
      : sql``;
    const rows = await this.#rows<{
      match_key: string;
      page: number | string;
      position: number | string;
      fields: string;
    }>(
      sql`SELECT match_key, page, position, fields FROM reconcile_records
        WHERE run_id = ${runId} AND side = ${side} ${from}
        ORDER BY match_key, page, position LIMIT ${limit}`,
    );
    return rows.map((row) => ({
      key: row.match_key,
      page: Number(row.page),
      position: Number(row.position),
      fieldsJson: row.fields,
    }));
  }

  async countSpilled(runId: string, side: ReconcileSide): Promise<number> {
    const [row] = await this.#rows<{ count: number | string }>(
      sql`SELECT COUNT(*) AS count FROM reconcile_records WHERE run_id = ${runId} AND side = ${side}`,
    );
    return Number(row?.count ?? 0);
  }

  async clearReportFindings(runId: string): Promise<void> {
    await sql`DELETE FROM reconcile_report_findings WHERE run_id = ${runId}`.execute(this.#db);
  }

  async addReportFindings(runId: string, findings: NewReportFinding[]): Promise<void> {
    for (let start = 0; start < findings.length; start += insertBatch) {
      const rows = findings
        .slice(start, start + insertBatch)
        .map((f) => sql`(${runId}, ${f.id}, ${f.type}, ${f.key}, ${f.field}, ${f.leftJson}, ${f.rightJson})`);
      await sql`INSERT INTO reconcile_report_findings (run_id, finding_id, type, match_key, field, left_fields, right_fields)
        VALUES ${sql.join(rows)}
        ON CONFLICT (run_id, finding_id) DO UPDATE SET left_fields = excluded.left_fields, right_fields = excluded.right_fields`.execute(
        this.#db,
      );
    }
  }

  async settleFindings(input: {
    runId: string;
    reconciliationId: string;
    at: number;
    listedKeysOnly?: boolean;
  }): Promise<{
    newFindings: number;
    resolvedFindings: number;
  }> {
    const { runId, reconciliationId, at } = input;
    const judged = input.listedKeysOnly
      ? sql`AND match_key IN (SELECT match_key FROM reconcile_records WHERE run_id = ${runId})`
      : sql``;
    // A finding fixed and seen again starts its next occurrence: first seen now, no repair requested yet.
    await sql`INSERT INTO reconcile_findings (id, reconciliation_id, type, match_key, field, left_fields, right_fields,
        first_seen_at, last_seen_at, last_run_id, resolved_at, occurrence)
      SELECT finding_id, ${reconciliationId}, type, match_key, field, left_fields, right_fields, ${at}, ${at}, run_id, NULL, 1
      FROM reconcile_report_findings WHERE run_id = ${runId}
      ON CONFLICT (id) DO UPDATE SET
        left_fields = excluded.left_fields,
        right_fields = excluded.right_fields,
        last_seen_at = excluded.last_seen_at,
        last_run_id = excluded.last_run_id,
        first_seen_at = CASE WHEN reconcile_findings.resolved_at IS NULL
          THEN reconcile_findings.first_seen_at ELSE excluded.first_seen_at END,
        occurrence = CASE WHEN reconcile_findings.resolved_at IS NULL
          THEN reconcile_findings.occurrence ELSE reconcile_findings.occurrence + 1 END,
        repair_requested_at = CASE WHEN reconcile_findings.resolved_at IS NULL
          THEN reconcile_findings.repair_requested_at ELSE NULL END,
        repair_requested_by = CASE WHEN reconcile_findings.resolved_at IS NULL
          THEN reconcile_findings.repair_requested_by ELSE NULL END,
        resolved_at = NULL`.execute(this.#db);
    await sql`UPDATE reconcile_findings SET resolved_at = ${at}
      WHERE reconciliation_id = ${reconciliationId} AND resolved_at IS NULL AND last_run_id <> ${runId} ${judged}`.execute(
      this.#db,
    );
    // Counted from what the statements left, so a step that settles again counts the same.
    const [counts] = await this.#rows<{ opened: number | string | null; resolved: number | string | null }>(
      sql`SELECT
        (SELECT COUNT(*) FROM reconcile_findings WHERE reconciliation_id = ${reconciliationId}
          AND last_run_id = ${runId} AND first_seen_at = ${at} AND resolved_at IS NULL) AS opened,
        (SELECT COUNT(*) FROM reconcile_findings WHERE reconciliation_id = ${reconciliationId}
          AND resolved_at = ${at}) AS resolved`,
    );
    return { newFindings: Number(counts?.opened ?? 0), resolvedFindings: Number(counts?.resolved ?? 0) };
  }

  async completeReport(input: {
    runId: string;
    counts: ReportCounts;
    merge: ReconcileMerge;
    mergeNote: string | null;
    keepRecords: boolean;
    at: number;
  }): Promise<void> {
    const { runId } = input;
    await sql`UPDATE reconcile_reports SET status = 'complete', finished_at = ${input.at},
        counts = ${JSON.stringify(input.counts)}, merge_method = ${input.merge}, merge_note = ${input.mergeNote}
      WHERE run_id = ${runId}`.execute(this.#db);
    // Once a full pass is complete, what earlier runs kept is superseded (a repeat after a crash finds nothing).
    await sql`DELETE FROM reconcile_records WHERE run_id IN (
        SELECT earlier.run_id FROM reconcile_reports earlier JOIN reconcile_reports finished ON finished.run_id = ${runId}
        WHERE finished.pass = 'full' AND finished.dry_run = 0 AND earlier.reconciliation_id = finished.reconciliation_id
          AND earlier.number < finished.number AND earlier.status = 'complete')`.execute(this.#db);
    if (!input.keepRecords) await sql`DELETE FROM reconcile_records WHERE run_id = ${runId}`.execute(this.#db);
  }

  async getReport(reconciliationId: string, number: number | "latest"): Promise<ReconcileReport | undefined> {
    const [row] = await this.#rows<ReportRow>(
      number === "latest"
        ? sql`SELECT * FROM reconcile_reports WHERE reconciliation_id = ${reconciliationId} ORDER BY number DESC LIMIT 1`
        : sql`SELECT * FROM reconcile_reports WHERE reconciliation_id = ${reconciliationId} AND number = ${number}`,
    );
    return row ? reportFromRow(row) : undefined;
  }

  async listReports(reconciliationId: string, limit: number): Promise<ReconcileReport[]> {
    const rows = await this.#rows<ReportRow>(
      sql`SELECT * FROM reconcile_reports WHERE reconciliation_id = ${reconciliationId} ORDER BY number DESC LIMIT ${limit}`,
    );
    return rows.map(reportFromRow);
  }

  async listReportFindings(
    runId: string,
    options: { limit: number; offset?: number; type?: FindingType },
  ): Promise<ReportFinding[]> {
    const type = options.type === undefined ? sql`` : sql`AND type = ${options.type}`;
    const rows = await this.#rows<Omit<FindingRow, "reconciliation_id"> & { finding_id: string }>(
      sql`SELECT * FROM reconcile_report_findings WHERE run_id = ${runId} ${type}
        ORDER BY match_key, finding_id LIMIT ${options.limit} OFFSET ${options.offset ?? 0}`,
    );
    return rows.map((row) => ({
      id: row.finding_id,
      type: row.type as FindingType,
      key: row.match_key,
      field: row.field,
      leftJson: row.left_fields,
      rightJson: row.right_fields,
    }));
  }

  async listOpenFindings(input: {
    reconciliationId: string;
    types?: FindingType[];
    unrepaired?: boolean;
    after?: { key: string; id: string };
    limit: number;
  }): Promise<Finding[]> {
    if (input.types !== undefined && input.types.length === 0) return [];
    const types = input.types === undefined ? sql`` : sql`AND type IN (${sql.join(input.types)})`;
    const unrepaired = input.unrepaired ? sql`AND repair_requested_at IS NULL` : sql``;
    const after = input.after ? sql`AND (match_key, id) > (${input.after.key}, ${input.after.id})` : sql``;
    const rows = await this.#rows<FindingRow>(
      sql`SELECT * FROM reconcile_findings
        WHERE reconciliation_id = ${input.reconciliationId} AND resolved_at IS NULL ${types} ${unrepaired} ${after}
        ORDER BY match_key, id LIMIT ${input.limit}`,
    );
    return rows.map(findingFromRow);
  }

  async getFindings(ids: string[]): Promise<Finding[]> {
    if (ids.length === 0) return [];
    const rows = await this.#rows<FindingRow>(sql`SELECT * FROM reconcile_findings WHERE id IN (${sql.join(ids)})`);
    return rows.map(findingFromRow);
  }

  async markRepairRequested(ids: string[], by: string, at: number): Promise<void> {
    if (ids.length === 0) return;
    await sql`UPDATE reconcile_findings SET repair_requested_at = ${at}, repair_requested_by = ${by}
      WHERE id IN (${sql.join(ids)}) AND repair_requested_at IS NULL`.execute(this.#db);
  }

  async countOpenFindings(): Promise<OpenFindingCount[]> {
    const rows = await this.#rows<{ reconciliation_id: string; open: number | string; newest: number | string }>(
      sql`SELECT reconciliation_id, COUNT(*) AS open, MAX(first_seen_at) AS newest FROM reconcile_findings
        WHERE resolved_at IS NULL GROUP BY reconciliation_id ORDER BY reconciliation_id`,
    );
    return rows.map((row) => ({
      reconciliationId: row.reconciliation_id,
      open: Number(row.open),
      newestAt: Number(row.newest),
    }));
  }

  async tallyFindings(): Promise<FindingTally[]> {
    const rows = await this.#rows<{
      reconciliation_id: string;
      type: string;
      seen: number | string;
      open: number | string;
      repaired: number | string;
    }>(
      sql`SELECT reconciliation_id, type, COUNT(*) AS seen,
        SUM(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END) AS open,
        SUM(CASE WHEN resolved_at IS NOT NULL AND repair_requested_at IS NOT NULL THEN 1 ELSE 0 END) AS repaired
        FROM reconcile_findings GROUP BY reconciliation_id, type ORDER BY reconciliation_id, type`,
    );
    return rows.map((row) => ({
      reconciliationId: row.reconciliation_id,
      type: row.type as FindingType,
      seen: Number(row.seen),
      open: Number(row.open),
      repaired: Number(row.repaired),
    }));
  }
}
