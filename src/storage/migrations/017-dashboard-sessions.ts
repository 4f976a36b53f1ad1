import type { Kysely } from "kysely";

/**
 * Who is signed in to the dashboard, and the one-time sign-in links not used yet.
 *
 * `dashboard_sessions`: one row per browser session, keyed by the SHA-256 of the session id (the cookie's value
 * is 32 random bytes, so a plain digest cannot be reversed; a copy of the database signs nobody in). The CSRF
 * token is not stored at all: it is derived from the session id, which only the cookie's holder has. A session
 * made with an API token keeps that token's digest (`token_hash`) and is checked against it on every request,
 * so revoking the token ends the session; a session made with a one-time link has no token and carries its own
 * name and role. `expires_at` is the earlier of the idle limit (moved on at most once a minute, with
 * `last_seen_at`) and the absolute one; expired rows are deleted whenever a session is created, hence its index.
 *
 * `dashboard_links`: one-time sign-in codes (`tenon dashboard-link`, `tenon dev`, the demo), stored as SHA-256
 * digests, deleted when used; expired ones are deleted whenever a link is made.
 */
export function dashboardSessionsSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("dashboard_sessions")
        .addColumn("id_hash", "text", (c) => c.primaryKey())
        // The token's name (or the link's), as the operator log names who acted.
        .addColumn("name", "text", (c) => c.notNull())
        // A link session's role; for a token session, the token's role when it signed in (its current one is used).
        .addColumn("role", "text", (c) => c.notNull())
        // env (TENON_API_TOKENS) | stored (tenon tokens create) | link (a one-time link)
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("token_hash", "text")
        .addColumn("created_at", int64, (c) => c.notNull())
        .addColumn("last_seen_at", int64, (c) => c.notNull())
        .addColumn("expires_at", int64, (c) => c.notNull())
        .execute();
      await db.schema.createIndex("dashboard_sessions_expiry").on("dashboard_sessions").column("expires_at").execute();

      await db.schema
        .createTable("dashboard_links")
        .addColumn("code_hash", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("created_at", int64, (c) => c.notNull())
        .addColumn("expires_at", int64, (c) => c.notNull())
        .execute();
    },
  };
}
