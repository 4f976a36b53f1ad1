import type { ConnectionClient } from "../sdk/connection-client.ts";
import type { ReconcileListPage, Reconciliation } from "../sdk/define-reconciliation.ts";
import { NonRetryableError } from "../sdk/errors.ts";
import type { ReconcileSide } from "../storage/reconcile-store.ts";

/**
 * Lists one page of a side through its lister, checked: an answer of another shape, or a next cursor that is the
 * one it was given (a lister that would loop for ever), fails the run saying so.
 */
export async function listPage(
  reconciliation: Reconciliation,
  side: ReconcileSide,
  request: { cursor: string | null; since: Date | null; asOf: number; connection: (name: string) => ConnectionClient },
  page: number,
): Promise<ReconcileListPage<unknown>> {
  const answer: unknown = await reconciliation[side].list(request);
  const records = (answer as { records?: unknown } | null)?.records;
  const next = (answer as { nextCursor?: unknown } | null)?.nextCursor;
  const where = `reconciliation "${reconciliation.id}": ${side}.list`;
  if (!Array.isArray(records) || !(next === null || next === undefined || typeof next === "string")) {
    throw new NonRetryableError(
      `${where} must return { records: [...], nextCursor: string | null }; page ${page + 1} did not`,
    );
  }
  if (next !== null && next !== undefined && next === request.cursor) {
    throw new NonRetryableError(
      `${where} returned the cursor it was given (${next}); it must move on, or be null after the last page`,
    );
  }
  return { records, nextCursor: next ?? null };
}
