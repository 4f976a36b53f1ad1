import { ValidationError } from "../sdk/errors.ts";
import type { AuditRecord } from "../storage/connection-store.ts";
import type { EventRecord, RunRecord, Storage } from "../storage/contract.ts";
import type { EntityTag, TagCursor } from "../storage/tag-store.ts";

export const defaultSearchLimit = 20;
export const maxSearchLimit = 100;
/** Outbound exchanges shown per run: a run that made more is listed in `exchangesCut`. */
export const exchangesPerRun = 50;

/** An event as a search shows it: everything but its payload (`tenon events show <id>` has it whole). */
export type EventSummary = Omit<EventRecord, "payloadJson">;

export interface EntitySearchResult {
  terms: EntityTag[];
  /** The runs that hold every term, newest first, each with all its tags. */
  runs: (RunRecord & { tags: EntityTag[] })[];
  /** The events those runs were started by, newest first. */
  events: EventSummary[];
  /** The outbound requests those runs made (audit trail, secrets redacted), newest first. */
  exchanges: AuditRecord[];
  /** Runs that made more than `exchangesPerRun` requests: the rest are in the audit trail (`/api/audit?run=<id>`). */
  exchangesCut: string[];
  /** Pass it back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface EntitySearchOptions {
  /** Runs per page: 1 to `maxSearchLimit`, default `defaultSearchLimit`. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/**
 * Everything Tenon knows about a business entity (`order:1001`): the runs tagged with it, the events that
 * started them, and what those runs sent to other systems, a bounded page at a time. Shared by
 * `GET /api/search` and `tenon search`, so both answer the same.
 */
export async function searchByEntity(
  storage: Storage,
  terms: EntityTag[],
  options: EntitySearchOptions = {},
): Promise<EntitySearchResult> {
  const limit = options.limit ?? defaultSearchLimit;
  const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  // One more than asked: whether an older page exists is known without a query that finds nothing.
  const found = await storage.tags.findRuns(terms, { limit: limit + 1, ...(after ? { after } : {}) });
  const page = found.slice(0, limit);
  const last = page.at(-1);
  const nextCursor =
    found.length > limit && last ? encodeCursor({ createdAt: last.createdAt, runId: last.runId }) : null;

  const runIds = page.map((tagged) => tagged.runId);
  const eventIds = [...new Set(page.map((tagged) => tagged.eventId))];
  const [runs, events, tags, audits] = await Promise.all([
    Promise.all(runIds.map((id) => storage.getRun(id))),
    Promise.all(eventIds.map((id) => storage.getEvent(id))),
    storage.tags.tagsOfRuns(runIds),
    Promise.all(runIds.map((runId) => storage.connections.listAudit({ runId, limit: exchangesPerRun + 1 }))),
  ]);
  const tagsByRun = new Map<string, EntityTag[]>();
  for (const { runId, kind, value } of tags) tagsByRun.set(runId, [...(tagsByRun.get(runId) ?? []), { kind, value }]);
  return {
    terms,
    // A run pruned since it was tagged is left out rather than shown half.
    runs: runs
      .filter((run): run is RunRecord => run !== null)
      .map((run) => ({
        ...run,
        tags: (tagsByRun.get(run.id) ?? []).sort(byKindAndValue),
      })),
    events: events
      .filter((event): event is EventRecord => event !== null)
      .map(({ payloadJson: _payload, ...summary }) => summary)
      .sort((a, b) => b.receivedAt - a.receivedAt || b.id.localeCompare(a.id)),
    exchanges: audits
      .flatMap((records) => records.slice(0, exchangesPerRun))
      .sort((a, b) => b.at - a.at || b.id.localeCompare(a.id)),
    exchangesCut: runIds.filter((_, index) => (audits[index]?.length ?? 0) > exchangesPerRun),
    nextCursor,
  };
}

function byKindAndValue(a: EntityTag, b: EntityTag): number {
  return a.kind.localeCompare(b.kind) || a.value.localeCompare(b.value);
}

/** Opaque to callers: where the page ended, in the tag index's order. */
function encodeCursor(cursor: TagCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.runId])).toString("base64url");
}

function decodeCursor(text: string): TagCursor {
  try {
    const [createdAt, runId] = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as unknown[];
    if (Number.isSafeInteger(createdAt) && typeof runId === "string") return { createdAt: createdAt as number, runId };
  } catch {}
  throw new ValidationError("cursor is not one this search returned: pass nextCursor from the previous page as it is");
}
