import type { Kysely } from "kysely";

/**
 * A named lease in `maintenance_leases`, held by one worker at a time: taken when free, expired or already its
 * own (a renewal), in one statement on both backends. The alert evaluator and the operational webhooks' pump
 * each hold one, so a periodic job runs once across all workers.
 */
export async function claimMaintenanceLease(
  // biome-ignore lint/suspicious/noExplicitAny: the table is typed by its migration, not by a schema type
  db: Kysely<any>,
  lease: { name: string; owner: string; now: number; until: number },
): Promise<boolean> {
  const { name, owner, now, until } = lease;
  const row = await db
    .insertInto("maintenance_leases")
    .values({ name, owner, until })
    .onConflict((oc) =>
      oc
        .column("name")
        .doUpdateSet({ owner, until })
        .where((eb) => eb.or([eb("maintenance_leases.until", "<", now), eb("maintenance_leases.owner", "=", owner)])),
    )
    .returning("owner")
    .executeTakeFirst();
  return row?.owner === owner;
}

/** Gives the lease up, if this owner still holds it. */
export async function releaseMaintenanceLease(
  // biome-ignore lint/suspicious/noExplicitAny: the table is typed by its migration, not by a schema type
  db: Kysely<any>,
  name: string,
  owner: string,
): Promise<void> {
  await db.deleteFrom("maintenance_leases").where("name", "=", name).where("owner", "=", owner).execute();
}
