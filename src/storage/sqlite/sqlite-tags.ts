import type Database from "better-sqlite3";
import type { NewRun } from "../contract.ts";
import {
  type EntityTag,
  maxSearchTerms,
  type NewTag,
  type TagCursor,
  type TaggedRun,
  type TagPage,
  type TagStore,
} from "../tag-store.ts";

/** Before every stored tag: the first page of a search. */
const firstPage: TagCursor = { createdAt: Number.MAX_SAFE_INTEGER, runId: "" };

/**
 * The runs tagged with the first term, newest first, that hold every other term too. The row-value
 * comparison is the keyset cursor, so a page starts where the entity index says and reads no skipped rows.
 */
function findRunsSql(terms: number): string {
  const others = Array.from(
    { length: terms - 1 },
    () => "AND EXISTS (SELECT 1 FROM tags o WHERE o.run_id = t.run_id AND o.kind = ? AND o.value = ?)",
  );
  return `SELECT t.run_id, t.event_id, t.created_at FROM tags t
    WHERE t.kind = ? AND t.value = ? AND (t.created_at, t.run_id) < (?, ?)
    ${others.join("\n    ")}
    ORDER BY t.created_at DESC, t.run_id DESC LIMIT ?`;
}

/** Every tag query on SQLite, as SQL in full. */
export const sqliteTagSql = {
  insertTag: `INSERT INTO tags (run_id, kind, value, event_id, created_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (run_id, kind, value) DO NOTHING`,
  tagsOfRuns: "SELECT run_id, kind, value FROM tags WHERE run_id IN (SELECT value FROM json_each(?))",
} as const;

type Statements = { [K in keyof typeof sqliteTagSql]: Database.Statement };

/** How the storage writes tags a run adds: durably, like its transitions. */
export interface SqliteTagWriters {
  durably<T>(fn: () => T): Promise<T>;
}

/** Tags on SQLite: written inside the storage's own transactions, read with prepared statements. */
export class SqliteTags implements TagStore {
  readonly #db: Database.Database;
  readonly #writers: SqliteTagWriters;
  #statements: Statements | undefined;
  /** By number of terms: each shape is prepared once. */
  readonly #finders = new Map<number, Database.Statement>();

  constructor(db: Database.Database, writers: SqliteTagWriters) {
    this.#db = db;
    this.#writers = writers;
  }

  /** Called once the migrations have run (the table exists). */
  prepare(): void {
    this.#statements = Object.fromEntries(
      Object.entries(sqliteTagSql).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
  }

  get #sql(): Statements {
    if (!this.#statements)
      throw new Error("storage used before migrate(): call storage.migrate() (engine.start() does)");
    return this.#statements;
  }

  /** Inside the caller's transaction: the tags of runs being inserted with their event. */
  insertRunTags(eventId: string, runs: NewRun[], now: number): void {
    for (const run of runs) {
      for (const tag of run.tags ?? []) this.#sql.insertTag.run(run.id, tag.kind, tag.value, eventId, now);
    }
  }

  async addTags(tags: NewTag[]): Promise<void> {
    if (tags.length === 0) return;
    const insert = this.#sql.insertTag;
    await this.#writers.durably(() => {
      for (const tag of tags) insert.run(tag.runId, tag.kind, tag.value, tag.eventId, tag.createdAt);
    });
  }

  async findRuns(terms: EntityTag[], page: TagPage = {}): Promise<TaggedRun[]> {
    const [first, ...others] = terms;
    if (!first || terms.length > maxSearchTerms) {
      throw new RangeError(`a search takes 1 to ${maxSearchTerms} terms, got ${terms.length}`);
    }
    let finder = this.#finders.get(terms.length);
    if (!finder) {
      finder = this.#db.prepare(findRunsSql(terms.length));
      this.#finders.set(terms.length, finder);
    }
    const after = page.after ?? firstPage;
    const rows = finder.all(
      first.kind,
      first.value,
      after.createdAt,
      after.runId,
      ...others.flatMap((term) => [term.kind, term.value]),
      page.limit ?? 50,
    ) as { run_id: string; event_id: string; created_at: number }[];
    return rows.map((row) => ({ runId: row.run_id, eventId: row.event_id, createdAt: row.created_at }));
  }

  async runIdsForEntity(kind: string, value: string, page?: TagPage): Promise<string[]> {
    return (await this.findRuns([{ kind, value }], page)).map((run) => run.runId);
  }

  async tagsOfRuns(runIds: string[]): Promise<(EntityTag & { runId: string })[]> {
    if (runIds.length === 0) return [];
    const rows = this.#sql.tagsOfRuns.all(JSON.stringify(runIds)) as { run_id: string; kind: string; value: string }[];
    return rows.map((row) => ({ runId: row.run_id, kind: row.kind, value: row.value }));
  }
}
