import { type Kysely, sql } from "kysely";

/**
 * The connections page asks, per connection, what happened to runs because of it: how many waited for its rate
 * limit or open circuit in the last hour and the newest such wait, how many were paused for its rejected
 * credentials and resumed. Those are run_history's rows that name a connection (waits, pauses, resumes): this
 * index holds only them, newest last, so the question is one short walk and costs the other rows nothing.
 */
export function connectionHistorySchema(_dialect: "sqlite" | "postgres") {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex("run_history_connection")
        .on("run_history")
        .columns(["connection_id", "at"])
        .where(sql.ref("connection_id"), "is not", null)
        .execute();
    },
  };
}
