import type pg from "pg";
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
 * The runs tagged with the first term, newest first, that hold every other term too. The row comparison is
 * the keyset cursor, so a page starts where the entity index says and reads no skipped rows.
 */
function findRunsSql(terms: number): string {
  const others = Array.from(
    { length: terms - 1 },
    (_, i) =>
      `AND EXISTS (SELECT 1 FROM tags o WHERE o.run_id = t.run_id AND o.kind = $${6 + 2 * i} AND o.value = $${7 + 2 * i})`,
  );
  return `SELECT t.run_id, t.event_id, t.created_at FROM tags t
    WHERE t.kind = $1 AND t.value = $2 AND (t.created_at, t.run_id) < ($3, $4)
    ${others.join("\n    ")}
    ORDER BY t.created_at DESC, t.run_id DESC LIMIT $5`;
}

/** Every tag query on PostgreSQL, as SQL in full. */
export const postgresTagSql = {
  /** A batch's tags in one round trip. */
  insertTags: `INSERT INTO tags (run_id, kind, value, event_id, created_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
    ON CONFLICT (run_id, kind, value) DO NOTHING`,
  tagsOfRuns: "SELECT run_id, kind, value FROM tags WHERE run_id = ANY($1::text[])",
} as const;

/** Tags on PostgreSQL: written inside the storage's own transactions, read from the pool. */
export class PostgresTags implements TagStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Inside the caller's transaction: the tags of runs being inserted with their events. */
  async insertRunTags(client: pg.PoolClient, events: { id: string; receivedAt: number; runs: NewRun[] }[]) {
    const tags = events.flatMap((event) =>
      event.runs.flatMap((run) =>
        (run.tags ?? []).map((tag) => ({ ...tag, runId: run.id, eventId: event.id, createdAt: event.receivedAt })),
      ),
    );
    if (tags.length > 0) await insertTags(client, tags);
  }

  async addTags(tags: NewTag[]): Promise<void> {
    if (tags.length > 0) await insertTags(this.#pool, tags);
  }

  async findRuns(terms: EntityTag[], page: TagPage = {}): Promise<TaggedRun[]> {
    const [first, ...others] = terms;
    if (!first || terms.length > maxSearchTerms) {
      throw new RangeError(`a search takes 1 to ${maxSearchTerms} terms, got ${terms.length}`);
    }
    const after = page.after ?? firstPage;
    const { rows } = await this.#pool.query<{ run_id: string; event_id: string; created_at: number }>({
      name: `tenon_find_tagged_runs_${terms.length}`,
      text: findRunsSql(terms.length),
      values: [
        first.kind,
        first.value,
        after.createdAt,
        after.runId,
        page.limit ?? 50,
        ...others.flatMap((term) => [term.kind, term.value]),
      ],
    });
    return rows.map((row) => ({ runId: row.run_id, eventId: row.event_id, createdAt: row.created_at }));
  }

  async runIdsForEntity(kind: string, value: string, page?: TagPage): Promise<string[]> {
    return (await this.findRuns([{ kind, value }], page)).map((run) => run.runId);
  }

  async tagsOfRuns(runIds: string[]): Promise<(EntityTag & { runId: string })[]> {
    if (runIds.length === 0) return [];
    const { rows } = await this.#pool.query<{ run_id: string; kind: string; value: string }>(
      postgresTagSql.tagsOfRuns,
      [runIds],
    );
    return rows.map((row) => ({ runId: row.run_id, kind: row.kind, value: row.value }));
  }
}

async function insertTags(db: pg.Pool | pg.PoolClient, tags: NewTag[]): Promise<void> {
  await db.query({
    name: "tenon_insert_tags",
    text: postgresTagSql.insertTags,
    values: [
      tags.map((t) => t.runId),
      tags.map((t) => t.kind),
      tags.map((t) => t.value),
      tags.map((t) => t.eventId),
      tags.map((t) => t.createdAt),
    ],
  });
}
