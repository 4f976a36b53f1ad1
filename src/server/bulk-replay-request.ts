import type { BulkSelection } from "../replay/bulk-selection.ts";
import { maxErrorTextLength } from "../storage/error-contains.ts";
import { apiTimeHint, parseApiTime } from "./api-time.ts";

/** A bulk replay's request, checked: its fixed selection, and whether it is only a preview. */
export interface BulkReplayRequest {
  selection: BulkSelection;
  dryRun: boolean;
}

const runKeys = ["status", "integration", "error", "since", "until", "rps", "dryRun"];
const eventKeys = ["status", "source", "since", "until", "dryRun"];
const maxRps = 10_000;

/**
 * `POST /api/runs/replay`: `{ status: "dead" | "failed", integration?, error?, since?, until?, rps?, dryRun? }`.
 * The selection is fixed at `now`: runs that end in the status later (or die again after this replay) are not
 * taken. Returns the request, or what is wrong with it.
 */
export function parseBulkRunReplay(raw: Buffer, now: number): BulkReplayRequest | string {
  const usage = 'send { status: "dead" | "failed", integration?, error?, since?, until?, rps?, dryRun? }';
  const fields = parseObject(raw, runKeys, usage);
  if (typeof fields === "string") return fields;
  const { status, integration, error, rps } = fields;
  if (status !== "dead" && status !== "failed") return `status must be "dead" or "failed"; ${usage}`;
  if (integration !== undefined && (typeof integration !== "string" || integration === "")) {
    return "integration must be an integration id";
  }
  if (error !== undefined && (typeof error !== "string" || error === "" || error.length > maxErrorTextLength)) {
    return `error (text the runs' last error contains, ignoring case) must be 1 to ${maxErrorTextLength} characters`;
  }
  if (rps !== undefined && (typeof rps !== "number" || !(rps > 0) || rps > maxRps)) {
    return `rps (runs replayed per second at most) must be a number above 0, up to ${maxRps}`;
  }
  const window = parseWindow(fields, "runs created");
  if (typeof window === "string") return window;
  const dryRun = parseDryRun(fields.dryRun);
  if (typeof dryRun === "string") return dryRun;
  return {
    dryRun,
    selection: {
      kind: "replay-runs",
      runs: {
        status,
        finishedBy: now,
        ...(integration === undefined ? {} : { integrationId: integration as string }),
        ...(error === undefined ? {} : { errorContains: error as string }),
        ...(window.since === undefined ? {} : { createdSince: window.since }),
        ...(window.until === undefined ? {} : { createdBefore: window.until }),
      },
      ...(rps === undefined ? {} : { rps: rps as number }),
    },
  };
}

/**
 * `POST /api/events/replay`: `{ status: "quarantined" | "unmatched", source?, since?, until?, dryRun? }`. The
 * selection ends at `now` (or `until`, if earlier): events received while it works are left alone.
 */
export function parseBulkEventReplay(raw: Buffer, now: number): BulkReplayRequest | string {
  const usage = 'send { status: "quarantined" | "unmatched", source?, since?, until?, dryRun? }';
  const fields = parseObject(raw, eventKeys, usage);
  if (typeof fields === "string") return fields;
  const { status, source } = fields;
  if (status !== "quarantined" && status !== "unmatched") {
    return `status must be "quarantined" or "unmatched" (accepted events started their runs: replay those runs); ${usage}`;
  }
  if (source !== undefined && (typeof source !== "string" || source === "")) return "source must be a source name";
  const window = parseWindow(fields, "events received");
  if (typeof window === "string") return window;
  const dryRun = parseDryRun(fields.dryRun);
  if (typeof dryRun === "string") return dryRun;
  return {
    dryRun,
    selection: {
      kind: "replay-events",
      events: {
        status,
        receivedBefore: Math.min(window.until ?? now, now),
        ...(source === undefined ? {} : { source: source as string }),
        ...(window.since === undefined ? {} : { receivedSince: window.since }),
      },
    },
  };
}

function parseObject(raw: Buffer, keys: string[], usage: string): Record<string, unknown> | string {
  let body: unknown;
  try {
    body = raw.length === 0 ? {} : JSON.parse(raw.toString("utf8"));
  } catch {
    return `the body is not valid JSON; ${usage}`;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return `the body must be a JSON object; ${usage}`;
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !keys.includes(key));
  if (unknown !== undefined) return `unknown key "${unknown}"; allowed keys: ${keys.join(", ")}`;
  return fields;
}

function parseWindow(fields: Record<string, unknown>, what: string): { since?: number; until?: number } | string {
  const since = parseApiTime(fields.since);
  const until = parseApiTime(fields.until);
  if (since === null) return `since (${what} at or after) must be ${apiTimeHint}`;
  if (until === null) return `until (${what} before) must be ${apiTimeHint}`;
  if (since !== undefined && until !== undefined && until <= since) return "until must be later than since";
  return { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }) };
}

function parseDryRun(value: unknown): boolean | string {
  if (value !== undefined && typeof value !== "boolean") return "dryRun must be true or false";
  return value === true;
}
