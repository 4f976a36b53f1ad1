import { type Duration, durationToMs } from "../sdk/duration.ts";
import type { EventStatus, RunStatus } from "../storage/contract.ts";
import type { EventPosition, RunPosition } from "../storage/read-api-store.ts";
import { isRunStatus, runStatuses } from "../storage/run-statuses.ts";

/**
 * Query parameters of the read API, checked before any query runs: each parser returns the value or a
 * `ParamError` whose message says what is accepted, answered as a 400.
 */
export class ParamError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export const defaultPageSize = 50;
export const maxPageSize = 500;

export function parsePageSize(value: string | undefined): number {
  if (value === undefined) return defaultPageSize;
  const limit = Number(value);
  if (/^\d+$/.test(value) && limit >= 1 && limit <= maxPageSize) return limit;
  throw new ParamError("invalid_limit", `limit must be a whole number from 1 to ${maxPageSize}`);
}

export function parseRunStatus(value: string | undefined): RunStatus | undefined {
  if (value === undefined) return undefined;
  if (isRunStatus(value)) return value;
  throw new ParamError("invalid_status", `unknown run status "${value}"; one of: ${runStatuses.join(", ")}`);
}

const eventStatuses: Record<string, EventStatus> = {
  accepted: "accepted",
  // How the docs speak of an accepted event.
  processed: "accepted",
  unmatched: "unmatched",
  quarantined: "quarantined",
};

export function parseEventStatus(value: string | undefined): EventStatus | undefined {
  if (value === undefined) return undefined;
  const status = Object.hasOwn(eventStatuses, value) ? eventStatuses[value] : undefined;
  if (status) return status;
  throw new ParamError(
    "invalid_status",
    `unknown event status "${value}"; one of: ${Object.keys(eventStatuses).join(", ")}`,
  );
}

/**
 * A point in time: an ISO 8601 date-time with its time zone (2026-01-31T09:00:00Z), or a duration back from
 * now with its unit (30m, 1h, 2d). A date-time without a zone is refused: the server's zone is not the caller's.
 */
export function parseTime(name: string, value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value)) return now - durationToMs(value as Duration);
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value);
  const at = zoned ? Date.parse(value) : Number.NaN;
  if (!Number.isNaN(at)) return at;
  throw new ParamError(
    "invalid_time",
    `${name} must be an ISO 8601 date-time with a time zone (2026-01-31T09:00:00Z) or a duration back from now (30m, 1h, 2d)`,
  );
}

/** Refuses a window that ends before it starts: an empty answer would hide the caller's mistake. */
export function checkWindow(since: number | undefined, until: number | undefined): void {
  if (since !== undefined && until !== undefined && until <= since) {
    throw new ParamError("invalid_time", "until must be later than since");
  }
}

/*
 * Cursors are opaque to callers (base64url of the position of a page's last item): only a cursor this API
 * gave back is accepted. The position itself is the keyset the query resumes after, so pages neither skip
 * nor repeat items when new ones arrive: those sort before the first page.
 */

export function runCursor(position: RunPosition): string {
  return encode(["r", position.createdAt, position.seq]);
}

export function parseRunCursor(value: string | undefined): RunPosition | null {
  if (value === undefined) return null;
  const parts = decode(value);
  const [kind, createdAt, seq] = parts ?? [];
  if (kind === "r" && Number.isSafeInteger(createdAt) && Number.isSafeInteger(seq)) {
    return { createdAt: createdAt as number, seq: seq as number };
  }
  throw badCursor("runs");
}

export function eventCursor(position: EventPosition): string {
  return encode(["e", position.receivedAt, position.id]);
}

export function parseEventCursor(value: string | undefined): EventPosition | null {
  if (value === undefined) return null;
  const [kind, receivedAt, id] = decode(value) ?? [];
  if (kind === "e" && Number.isSafeInteger(receivedAt) && typeof id === "string" && id !== "") {
    return { receivedAt: receivedAt as number, id };
  }
  throw badCursor("events");
}

function encode(parts: unknown[]): string {
  return Buffer.from(JSON.stringify(parts)).toString("base64url");
}

function decode(value: string): unknown[] | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    return Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function badCursor(list: string): ParamError {
  return new ParamError(
    "invalid_cursor",
    `cursor is not one this API gave for ${list}; pass the "nextCursor" of the previous page as it is, or leave it out for the first page`,
  );
}
