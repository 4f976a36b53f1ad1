import type { Logger } from "pino";
import type { Integration, TriggerEvent } from "../sdk/define-integration.ts";
import { toError } from "../sdk/errors.ts";
import { isStorableText } from "../storage/storable-text.ts";
import type { EntityTag } from "../storage/tag-store.ts";

/** Lower-case, so `order:1001` is one kind however an integration spells it; short, as it is typed in searches. */
const kindPattern = /^[a-z][a-z0-9_-]{0,49}$/;
export const maxEntityValueLength = 200;
/** Values of a single kind from one `entities` call: a list longer than this is a mistake, not an entity. */
const maxValuesPerKind = 100;

/** An entity tag that cannot be stored: a kind or value out of shape. */
export class InvalidEntityTagError extends Error {
  override readonly name = "InvalidEntityTagError";
}

/**
 * The stored form of one entity value, the same when a tag is written and when it is searched for:
 * numbers become their decimal text (`1001` and `"1001"` are one order), strings are trimmed, and e-mail
 * addresses (kind `email`) are lower-cased, as mailboxes are matched in practice. Returns null when there
 * is nothing to tag (undefined, null, blank); throws InvalidEntityTagError for what cannot be a tag.
 */
export function toEntityTag(kind: string, value: unknown): EntityTag | null {
  if (!kindPattern.test(kind)) {
    throw new InvalidEntityTagError(
      `entity kind "${kind}" must be 1-50 characters of a-z, 0-9, "_" or "-", starting with a letter`,
    );
  }
  if (value === undefined || value === null) return null;
  let text: string;
  if (typeof value === "number" && Number.isFinite(value)) text = String(value);
  else if (typeof value === "string") text = value.trim();
  else
    throw new InvalidEntityTagError(`entity ${kind}: a value must be a string or a finite number, got ${typeof value}`);
  if (text === "") return null;
  if (text.length > maxEntityValueLength || !isStorableText(text)) {
    throw new InvalidEntityTagError(
      `entity ${kind}: a value must be well-formed text of at most ${maxEntityValueLength} characters`,
    );
  }
  return { kind, value: kind === "email" ? text.toLowerCase() : text };
}

/**
 * The tags an integration declares for an event (its `entities`), deduplicated. Search is a window on the
 * runs, never a reason to lose one: if `entities` throws, the run is stored without tags; a kind or value
 * that cannot be a tag is left out alone. Both are logged, so the author learns why a search misses.
 */
export function entityTagsOf(
  integration: Integration,
  event: Omit<TriggerEvent<unknown>, "receivedAt"> & { receivedAt: number },
  logger: Logger,
): EntityTag[] {
  if (!integration.entities) return [];
  const context = { integrationId: integration.id, eventId: event.id };
  let declared: unknown;
  try {
    declared = integration.entities({ ...event, receivedAt: new Date(event.receivedAt) });
  } catch (error) {
    logger.warn(
      { ...context, err: toError(error).message },
      "the integration's entities function threw: the event and its run are stored without entity tags",
    );
    return [];
  }
  if (typeof declared !== "object" || declared === null || Array.isArray(declared)) {
    logger.warn(
      context,
      "the integration's entities function must return an object such as { order: 1001 }; no tags stored",
    );
    return [];
  }
  const tags = new Map<string, EntityTag>();
  for (const [kind, values] of Object.entries(declared)) {
    const list: unknown[] = Array.isArray(values) ? values.slice(0, maxValuesPerKind) : [values];
    for (const value of list) {
      try {
        const tag = toEntityTag(kind, value);
        if (tag) tags.set(`${tag.kind}\u0000${tag.value}`, tag);
      } catch (error) {
        logger.warn({ ...context, err: (error as Error).message }, "an entity was left out: it cannot be a tag");
      }
    }
  }
  return [...tags.values()];
}
