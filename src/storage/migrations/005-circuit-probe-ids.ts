import type { Kysely } from "kysely";

/**
 * Which probe of a half-open circuit is the current one: each claim of the probe writes its own id, and a
 * probe's outcome counts only while the id is still its own. A probe whose lease lapsed (another worker may
 * be probing by then) cannot close or reopen the circuit over the newer probe.
 */
export function circuitProbeIdsSchema() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("circuits").addColumn("probe_id", "text").execute();
    },
  };
}
