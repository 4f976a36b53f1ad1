import type { Kysely } from "kysely";

/**
 * The claim on spending a connection's refresh token: who may send the next token request, and until when.
 * The refresh lock makes refreshers take turns, but a holder can lose the lock without knowing; a token
 * request is sent only under a live claim on the credentials version it read, and saving credentials ends it.
 */
export function refreshClaimsSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("connections").addColumn("refresh_claimant", "text").execute();
      await db.schema.alterTable("connections").addColumn("refresh_until", int64).execute();
    },
  };
}
