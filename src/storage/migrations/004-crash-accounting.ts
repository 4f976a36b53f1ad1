import type { Kysely } from "kysely";

/**
 * Crash accounting apart from failures. `crashes` counts the interruptions of a run (its worker crashed,
 * was killed, or stalled past its lease) in a row without progress; `steps_at_interruption` is how many
 * completed steps the run had at its last interruption, so the next one can tell whether it advanced since.
 * A run that advances is never dead-lettered by the crashes of its process; one that keeps being in
 * flight when its worker dies, without completing a step, is the poison suspect.
 */
export function crashAccountingSchema() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable("runs")
        .addColumn("crashes", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable("runs")
        .addColumn("steps_at_interruption", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
    },
  };
}
