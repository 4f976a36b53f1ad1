import type { Kysely } from "kysely";

/**
 * Who may do what through the API, and what they did.
 *
 * `api_tokens`: tokens made by `tenon tokens create`, stored as the SHA-256 of the token only (a token is 32
 * random bytes, so a plain digest cannot be reversed; no salt or slow hash is needed). A request is looked up
 * by that digest, hence its unique index. A revoked token keeps its row (revoked_at), and its name is never
 * given to another token, so a name in the operator log always means one token.
 *
 * `operator_log`: every mutating API call (who, what, outcome, from where) and every replay made with the
 * CLI, read newest first by time (`GET /api/operator-log`), hence the (at, seq) index.
 *
 * `run_history.actor`: who asked for a replay (`api:<token name>`, `cli:<OS user>`); null for history
 * written by the engine itself.
 */
export function operatorAccessSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("api_tokens")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("token_hash", "text", (c) => c.notNull())
        .addColumn("created_at", int64, (c) => c.notNull())
        .addColumn("revoked_at", int64)
        .addColumn("last_used_at", int64)
        .execute();
      await db.schema.createIndex("api_tokens_hash").unique().on("api_tokens").column("token_hash").execute();

      await db.schema
        .createTable("operator_log")
        .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) =>
          dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn("at", int64, (c) => c.notNull())
        // The token's name, or the OS user for the CLI.
        .addColumn("actor", "text", (c) => c.notNull())
        // The token's role; null for the CLI (whoever can run it can open the database).
        .addColumn("role", "text")
        // api | cli
        .addColumn("via", "text", (c) => c.notNull())
        // "POST /api/runs/:id/replay" (the route, not the URL), or a CLI command ("tenon replay").
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("target", "text")
        // The HTTP status of the answer; null for the CLI.
        .addColumn("status", "integer")
        .addColumn("ip", "text")
        // What happened beyond the status, e.g. the counts of a bulk replay.
        .addColumn("detail", "text")
        .execute();
      await db.schema.createIndex("operator_log_at").on("operator_log").columns(["at", "seq"]).execute();

      await db.schema.alterTable("run_history").addColumn("actor", "text").execute();
    },
  };
}
