import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * blocked → queued. A run of a concurrency key that ends (succeeded, failed, dead) frees its key's slot and
 * hands it to the oldest blocked run of that key (FIFO). `concurrency_keys.active` counts a key's unfinished
 * runs (enqueue-runs.ts takes the slot); a key with none left is forgotten.
 */
export const releaseConcurrencySlot = inBothDialects(
  "UPDATE concurrency_keys SET active = active - 1 WHERE key = ? RETURNING active",
);
export const forgetIdleConcurrencyKey = inBothDialects("DELETE FROM concurrency_keys WHERE key = ? AND active <= 0");
export const promoteOldestBlocked = inBothDialects(
  `UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?
    WHERE seq = (SELECT seq FROM runs WHERE concurrency_key = ? AND status = 'blocked' ORDER BY seq LIMIT 1)`,
);

type SlotStatements = SqliteStatements<"releaseConcurrencySlot" | "forgetIdleConcurrencyKey" | "promoteOldestBlocked">;

export function releaseConcurrencySlotOnSqlite(s: SlotStatements, key: string | null, now: number): void {
  if (key === null) return;
  const row = s.releaseConcurrencySlot.get(key) as { active: number } | undefined;
  if (row && row.active <= 0) s.forgetIdleConcurrencyKey.run(key);
  s.promoteOldestBlocked.run(now, now, key);
}

/**
 * Releases one slot per entry of `keys` (a key twice frees two), at the end of a batch of transitions. Keys in
 * sorted order, so two transactions freeing the same keys lock them in the same order.
 */
export async function releaseConcurrencySlotsOnPostgres(
  client: PostgresClient,
  keys: string[],
  now: number,
): Promise<void> {
  let promoted = false;
  for (const key of keys.sort()) {
    const { rows } = await client.query<{ active: number }>(releaseConcurrencySlot.postgres, [key]);
    if (rows[0] && rows[0].active <= 0) await client.query(forgetIdleConcurrencyKey.postgres, [key]);
    const { rowCount } = await client.query(promoteOldestBlocked.postgres, [now, now, key]);
    promoted = rowCount === 1 || promoted;
  }
  if (promoted) await client.query(notifyRunsAvailable.postgres);
}
