import { createHash } from "node:crypto";

/**
 * The idempotency key of a step: the same on every attempt of that step in that
 * run, different for any other step or run. Readable (run id + step name) so
 * it can be matched in a provider's dashboard; hashed when that would exceed
 * 255 characters (Stripe's limit, the strictest we know).
 */
export function idempotencyKeyFor(runId: string, journalName: string): string {
  const readable = `${runId}:${journalName}`;
  if (readable.length <= 255) return readable;
  return `${runId}:${createHash("sha256").update(journalName).digest("base64url")}`;
}
