import type { Kysely } from "kysely";
import type {
  BulkActionCounts,
  BulkActionKind,
  BulkActionRecord,
  BulkActionStore,
  BulkProgress,
  NewBulkAction,
} from "./bulk-action-store.ts";
import type { ApiRole } from "./operator-store.ts";

interface BulkActionRow {
  id: string;
  kind: string;
  selection: string;
  actor: string;
  actor_role: string | null;
  total: number | string;
  replayed: number | string;
  skipped: number | string;
  failed: number | string;
  other: string;
  reasons: string;
  cursor: string | null;
  state: string;
  error: string | null;
  owner: string | null;
  lease_until: number | string;
  started_at: number | string;
  updated_at: number | string;
  finished_at: number | string | null;
}

function toRecord(row: BulkActionRow, now: number): BulkActionRecord {
  const lapsed = row.state === "running" && Number(row.lease_until) < now;
  return {
    id: row.id,
    kind: row.kind as BulkActionKind,
    selectionJson: row.selection,
    actor: row.actor,
    actorRole: row.actor_role as ApiRole | null,
    total: Number(row.total),
    replayed: Number(row.replayed),
    skipped: Number(row.skipped),
    failed: Number(row.failed),
    other: JSON.parse(row.other) as Record<string, number>,
    reasons: JSON.parse(row.reasons) as Record<string, number>,
    cursorJson: row.cursor,
    state: lapsed ? "interrupted" : (row.state as BulkActionRecord["state"]),
    error: row.error,
    startedAt: Number(row.started_at),
    updatedAt: Number(row.updated_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

function countColumns(counts: BulkActionCounts) {
  return {
    replayed: counts.replayed,
    skipped: counts.skipped,
    failed: counts.failed,
    other: JSON.stringify(counts.other),
    reasons: JSON.stringify(counts.reasons),
  };
}

/**
 * Bulk actions' reads and writes, the same SQL on both backends. Each write is one statement; those after the
 * first name the owner in their WHERE, so a process that lost its job (its lease lapsed and another took it
 * over) changes nothing and learns it from the answer.
 */
export class BulkActionQueries implements BulkActionStore {
  // biome-ignore lint/suspicious/noExplicitAny: the table is typed by its migration, not by a schema type
  readonly #db: Kysely<any>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  async createBulkAction(action: NewBulkAction): Promise<void> {
    await this.#db
      .insertInto("bulk_actions")
      .values({
        id: action.id,
        kind: action.kind,
        selection: action.selectionJson,
        actor: action.actor,
        actor_role: action.actorRole,
        total: action.total,
        state: "running",
        owner: action.owner,
        lease_until: action.leaseUntil,
        started_at: action.now,
        updated_at: action.now,
      })
      .execute();
  }

  async getBulkAction(id: string, now: number): Promise<BulkActionRecord | null> {
    const row = await this.#db.selectFrom("bulk_actions").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toRecord(row as BulkActionRow, now) : null;
  }

  async listBulkActions(input: {
    now: number;
    limit: number;
    kind?: BulkActionKind;
    before?: { startedAt: number; id: string };
  }): Promise<BulkActionRecord[]> {
    let query = this.#db.selectFrom("bulk_actions").selectAll();
    if (input.kind) query = query.where("kind", "=", input.kind);
    const { before } = input;
    if (before) {
      query = query.where((eb) => eb(eb.refTuple("started_at", "id"), "<", eb.tuple(before.startedAt, before.id)));
    }
    const rows = await query.orderBy("started_at", "desc").orderBy("id", "desc").limit(input.limit).execute();
    return rows.map((row) => toRecord(row as BulkActionRow, input.now));
  }

  async recordBulkProgress(progress: BulkProgress): Promise<boolean> {
    return this.#updateOwned(progress.id, progress.owner, {
      ...countColumns(progress.counts),
      cursor: progress.cursorJson,
      lease_until: progress.leaseUntil,
      updated_at: progress.now,
    });
  }

  async renewBulkActionLease(input: { id: string; owner: string; leaseUntil: number; now: number }): Promise<boolean> {
    return this.#updateOwned(input.id, input.owner, { lease_until: input.leaseUntil, updated_at: input.now });
  }

  async finishBulkAction(
    progress: Omit<BulkProgress, "leaseUntil"> & { state: "finished" | "failed"; error: string | null },
  ): Promise<boolean> {
    return this.#updateOwned(progress.id, progress.owner, {
      ...countColumns(progress.counts),
      cursor: progress.cursorJson,
      state: progress.state,
      error: progress.error,
      owner: null,
      lease_until: 0,
      updated_at: progress.now,
      finished_at: progress.now,
    });
  }

  async releaseBulkAction(input: { id: string; owner: string; now: number }): Promise<void> {
    await this.#updateOwned(input.id, input.owner, { owner: null, lease_until: 0, updated_at: input.now });
  }

  async claimInterruptedBulkAction(input: {
    id: string;
    owner: string;
    leaseUntil: number;
    now: number;
  }): Promise<BulkActionRecord | null> {
    const result = await this.#db
      .updateTable("bulk_actions")
      .set({ owner: input.owner, lease_until: input.leaseUntil, updated_at: input.now })
      .where("id", "=", input.id)
      .where("state", "=", "running")
      .where("lease_until", "<", input.now)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return null;
    return this.getBulkAction(input.id, input.now);
  }

  async #updateOwned(id: string, owner: string, values: Record<string, unknown>): Promise<boolean> {
    const result = await this.#db
      .updateTable("bulk_actions")
      .set(values)
      .where("id", "=", id)
      .where("owner", "=", owner)
      .where("state", "=", "running")
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
