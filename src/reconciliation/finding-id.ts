import { createHash } from "node:crypto";
import type { FindingType } from "../storage/reconcile-store.ts";

/**
 * A finding's identity: the same reconciliation, type, key (and field, for a mismatch) is the same finding in
 * every run, so it keeps its first-seen time, an alert fires once for it, and it is repaired once.
 */
export function findingIdOf(reconciliationId: string, type: FindingType, key: string, field: string | null): string {
  return createHash("sha256")
    .update(`${reconciliationId}\u0000${type}\u0000${key}\u0000${field ?? ""}`)
    .digest("base64url")
    .slice(0, 22);
}

/**
 * Keys in byte order of their UTF-8, the order both backends return spilled records in (SQLite's BINARY
 * collation, PostgreSQL's "C"): a sorted merge must compare keys exactly as the database sorted them.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
