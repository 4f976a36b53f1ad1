import type { Kysely } from "kysely";

/**
 * Search by business entity: a row per (run, kind, value), written with the run when its event is accepted
 * (the integration's `entities`) or while it runs (`step.tag`). The primary key makes a tag added again by a
 * step that re-executes after a crash a no-op, and serves "the tags of this run" (and pruning by run); the
 * entity index answers "newest runs about order 1001" in index order, a page at a time.
 */
export function entityTagsSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("tags")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addColumn("event_id", "text", (c) => c.notNull())
        .addColumn("created_at", int64, (c) => c.notNull())
        .addPrimaryKeyConstraint("tags_pkey", ["run_id", "kind", "value"])
        .execute();
      await db.schema
        .createIndex("tags_entity")
        .on("tags")
        .columns(["kind", "value", "created_at desc", "run_id desc"])
        .execute();
    },
  };
}
