import { readSettings } from "../../config/settings.ts";
import { formatEntityQuery, parseEntityQuery } from "../../observability/entity-query.ts";
import { type EntitySearchResult, maxSearchLimit, searchByEntity } from "../../observability/entity-search.ts";
import { ValidationError } from "../../sdk/errors.ts";
import type { AuditRecord } from "../../storage/connection-store.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTime, formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

export interface SearchOptions {
  limit: number;
  /** `nextCursor` of the previous page, for older runs. */
  cursor?: string;
  /** The same JSON object as `GET /api/search`, for scripts. */
  json?: boolean;
}

/** `tenon search order:1001 [email:…]`: the runs about an entity, their events and their outbound requests. */
export async function searchCommand(terms: string[], options: SearchOptions): Promise<void> {
  if (options.limit > maxSearchLimit) {
    throw new ValidationError(`--limit must be at most ${maxSearchLimit} runs a page; use --cursor for more`);
  }
  const query = parseEntityQuery(terms.map(quoteSpacedValue).join(" "));
  const storage = await openExistingStorage(readSettings());
  try {
    // Runs the migrations a newer Tenon added (the tags table), as `tenon runs show` does.
    await storage.migrate();
    const result = await searchByEntity(storage, query, {
      limit: options.limit,
      ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    });
    console.log(options.json ? JSON.stringify(result) : formatSearch(result, Date.now()));
  } finally {
    await storage.close();
  }
}

/** The shell took the quotes off `customer:"Ada Lovelace"`: one argument is one term, spaces and all. */
function quoteSpacedValue(argument: string): string {
  const colon = argument.indexOf(":");
  const value = argument.slice(colon + 1);
  return colon > 0 && /\s/.test(value) && !value.startsWith('"') ? `${argument.slice(0, colon)}:"${value}"` : argument;
}

function formatSearch(result: EntitySearchResult, now: number): string {
  const query = formatEntityQuery(result.terms);
  if (result.runs.length === 0) {
    return [
      `no runs are tagged ${query}`,
      "(runs are tagged by their integration's `entities` as events arrive, and by `step.tag`; see docs/entity-search.md)",
    ].join("\n");
  }
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const sections = [
    `${query}: ${count(result.runs.length, "run")}, ${count(result.events.length, "event")}, ${count(result.exchanges.length, "outbound request")}`,
    "",
    "RUNS",
    formatTable(
      ["ID", "INTEGRATION", "STATUS", "CREATED", "TAGS"],
      result.runs.map((run) => [
        run.id,
        run.integrationId,
        run.status,
        formatLocalTimeWithAge(run.createdAt, now),
        run.tags.map((tag) => `${tag.kind}:${tag.value}`).join(" "),
      ]),
    ),
    "",
    "EVENTS",
    formatTable(
      ["ID", "SOURCE", "TYPE", "STATUS", "RECEIVED"],
      result.events.map((event) => [
        event.id,
        event.source,
        event.type,
        event.status,
        formatLocalTimeWithAge(event.receivedAt, now),
      ]),
    ),
  ];
  if (result.exchanges.length > 0) {
    sections.push(
      "",
      "OUTBOUND REQUESTS",
      formatTable(["AT", "RUN", "STEP", "CONNECTION", "REQUEST", "ANSWER"], result.exchanges.map(toExchangeRow)),
    );
  }
  for (const runId of result.exchangesCut) {
    sections.push(`run ${runId} made more requests than shown: \`tenon runs show ${runId}\` lists them all`);
  }
  if (result.nextCursor !== null) {
    sections.push("", `older runs: tenon search ${query} --cursor ${result.nextCursor}`);
  }
  return sections.join("\n");
}

function toExchangeRow(exchange: AuditRecord): string[] {
  const answer = exchange.status === null ? (exchange.error ?? "no answer") : String(exchange.status);
  return [
    formatLocalTime(exchange.at),
    exchange.runId ?? "",
    exchange.stepName ?? "",
    exchange.connectionId,
    `${exchange.method} ${exchange.url}`,
    `${answer} in ${exchange.durationMs} ms`,
  ];
}
