import { readSettings } from "../../config/settings.ts";
import { type EventJson, eventToJson } from "../../observability/event-json.ts";
import { isRawWebhookPayload } from "../../replay/raw-webhook-payload.ts";
import { ValidationError } from "../../sdk/errors.ts";
import type { EventFilter, EventRecord, RunStatus } from "../../storage/contract.ts";
import { type EventStatusChoice, toEventStatus } from "../event-statuses.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage } from "../storage-from-settings.ts";
import { wrapText } from "../wrap-text.ts";

export interface EventsOptions {
  status?: EventStatusChoice;
  source?: string;
  /** How far back, in milliseconds (`--since 1h`). */
  since?: number;
  limit: number;
  /** JSON on stdout, for scripts. */
  json?: boolean;
}

/** `tenon events show --json`: the event, its payload and the runs it started. */
interface EventDetailJson extends EventJson {
  /** The stored payload, parsed; the stored text itself when it is not JSON. */
  payload: unknown;
  runs: { id: string; integrationId: string; status: RunStatus }[];
}

/** `tenon events`: the most recent stored events, newest first. */
export async function listEventsCommand(options: EventsOptions): Promise<void> {
  const now = Date.now();
  const filter: EventFilter = { limit: options.limit };
  if (options.status !== undefined) filter.status = toEventStatus(options.status);
  if (options.source !== undefined) filter.source = options.source;
  if (options.since !== undefined) filter.since = now - options.since;
  const storage = await openExistingStorage(readSettings());
  try {
    const events = await storage.listEvents(filter);
    console.log(options.json ? JSON.stringify(events.map(eventToJson)) : formatEvents(events, now));
  } finally {
    await storage.close();
  }
}

/** `tenon events show <eventId>`: the event whole, with its payload as stored and the runs it started. */
export async function showEventCommand(eventId: string, options: { json?: boolean }): Promise<void> {
  const storage = await openExistingStorage(readSettings());
  try {
    const event = await storage.getEvent(eventId);
    if (!event) throw new ValidationError(`no event "${eventId}" is stored; \`tenon events\` lists the stored ones`);
    // An event starts one run per matching integration, and a replay adds as many again: a few, not thousands.
    const runs = (await storage.listRuns({ eventId, limit: 10_000 })).map((run) => ({
      id: run.id,
      integrationId: run.integrationId,
      status: run.status,
    }));
    const detail: EventDetailJson = { ...eventToJson(event), payload: parsePayload(event.payloadJson), runs };
    console.log(options.json ? JSON.stringify(detail) : formatEvent(detail, event, Date.now()));
  } finally {
    await storage.close();
  }
}

/** One row per event; a quarantined event's reason follows its row, indented and wrapped to the terminal. */
function formatEvents(events: EventRecord[], now: number): string {
  if (events.length === 0) return "no events match";
  const header = ["ID", "SOURCE", "TYPE", "PROVIDER ID", "STATUS", "RECEIVED"];
  const rows = events.map((e) => [
    e.id,
    e.source,
    e.type,
    e.dedupKey ?? "-",
    e.status,
    formatLocalTimeWithAge(e.receivedAt, now),
  ]);
  const [headerLine, ...rowLines] = formatTable(header, rows).split("\n");
  const lines = [headerLine ?? ""];
  events.forEach((event, index) => {
    lines.push(rowLines[index] ?? "");
    if (event.error !== null) lines.push(...indented(`reason: ${event.error}`));
  });
  return lines.join("\n");
}

function formatEvent(detail: EventDetailJson, event: EventRecord, now: number): string {
  const fields: [string, string][] = [
    ["event", detail.id],
    ["source", detail.source],
    ["type", detail.type],
    ["provider id", detail.providerId ?? "-"],
    ["status", detail.status],
    ["received", formatLocalTimeWithAge(event.receivedAt, now)],
  ];
  const labelWidth = Math.max(...fields.map(([label]) => label.length));
  const lines = fields.map(([label, value]) => `${label.padEnd(labelWidth)}  ${value}`);
  if (detail.reason !== null) lines.push("", "reason:", ...indented(detail.reason));
  lines.push("", ...formatPayload(detail.payload, event.payloadJson));
  lines.push("", ...formatRunsOf(detail.runs));
  return lines.join("\n");
}

/**
 * A webhook quarantined because its body could not be parsed is stored as the bytes it came with (see
 * RawWebhookPayload): those are shown as they arrived, since escaping them in JSON would hide what was wrong.
 */
function formatPayload(payload: unknown, payloadJson: string): string[] {
  if (isRawWebhookPayload(payload)) {
    const encoding = payload.encoding === "base64" ? ", not UTF-8 so shown in base64" : "";
    return [`body (${payload.contentType ?? "no content type"}${encoding}), as received:`, payload.body];
  }
  const text = typeof payload === "string" && payload === payloadJson ? payload : JSON.stringify(payload, null, 2);
  return ["payload:", text];
}

function formatRunsOf(runs: EventDetailJson["runs"]): string[] {
  if (runs.length === 0) return ["runs: none started"];
  const table = formatTable(
    ["ID", "INTEGRATION", "STATUS"],
    runs.map((run) => [run.id, run.integrationId, run.status]),
  );
  return ["runs:", ...table.split("\n")];
}

function parsePayload(payloadJson: string): unknown {
  try {
    return JSON.parse(payloadJson);
  } catch {
    return payloadJson;
  }
}

/** Wrapped to the terminal's width (100 columns when not a terminal), two spaces in. */
function indented(text: string): string[] {
  const width = (process.stdout.columns ?? 100) - 2;
  return wrapText(text, width).map((line) => `  ${line}`);
}
