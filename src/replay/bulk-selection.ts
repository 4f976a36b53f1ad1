import type { BulkActionKind } from "../storage/bulk-action-store.ts";
import type { EventSelection, ReplayCursor, ReplaySelection } from "../storage/contract.ts";
import type { EventCursor } from "./replay-event-selection.ts";

/** What a bulk action works through, fixed when it starts: stored with it (as JSON) so a resume reads the same set. */
export type BulkSelection =
  | {
      kind: "replay-runs";
      runs: ReplaySelection;
      /** At most this many runs replayed per second. */
      rps?: number;
    }
  | { kind: "replay-events"; events: EventSelection & { receivedBefore: number } };

export function parseStoredSelection(kind: BulkActionKind, json: string): BulkSelection {
  const stored = JSON.parse(json) as Record<string, unknown>;
  if (kind === "replay-runs") {
    const { rps, ...runs } = stored;
    return {
      kind,
      runs: runs as unknown as ReplaySelection,
      ...(typeof rps === "number" ? { rps } : {}),
    };
  }
  return { kind, events: stored as unknown as EventSelection & { receivedBefore: number } };
}

export function storedSelection(selection: BulkSelection): string {
  if (selection.kind === "replay-runs") {
    return JSON.stringify({ ...selection.runs, ...(selection.rps === undefined ? {} : { rps: selection.rps }) });
  }
  return JSON.stringify(selection.events);
}

/** Where a stored job resumes. */
export function parseStoredCursor(json: string | null): ReplayCursor | EventCursor | undefined {
  return json === null ? undefined : (JSON.parse(json) as ReplayCursor | EventCursor);
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();

/** The selection as the API shows it, in the names the request used (`integration`, `error`, `since`…). */
export function selectionToJson(selection: BulkSelection): Record<string, unknown> {
  if (selection.kind === "replay-runs") {
    const { runs, rps } = selection;
    return {
      status: runs.status,
      ...(runs.integrationId === undefined ? {} : { integration: runs.integrationId }),
      ...(runs.errorContains === undefined ? {} : { error: runs.errorContains }),
      ...(runs.createdSince === undefined ? {} : { since: iso(runs.createdSince) }),
      ...(runs.createdBefore === undefined ? {} : { until: iso(runs.createdBefore) }),
      ...(rps === undefined ? {} : { rps }),
      finishedBy: iso(runs.finishedBy),
    };
  }
  const { events } = selection;
  return {
    status: events.status,
    ...(events.source === undefined ? {} : { source: events.source }),
    ...(events.receivedSince === undefined ? {} : { since: iso(events.receivedSince) }),
    until: iso(events.receivedBefore),
  };
}

/** "runs: status dead, integration billing, error contains "401"": what the operator log says was selected. */
export function describeSelection(selection: BulkSelection): string {
  if (selection.kind === "replay-runs") {
    const { runs } = selection;
    const parts = [`status ${runs.status}`];
    if (runs.integrationId !== undefined) parts.push(`integration ${runs.integrationId}`);
    if (runs.errorContains !== undefined) parts.push(`error contains ${JSON.stringify(runs.errorContains)}`);
    if (runs.createdSince !== undefined) parts.push(`since ${iso(runs.createdSince)}`);
    if (runs.createdBefore !== undefined) parts.push(`until ${iso(runs.createdBefore)}`);
    return `runs: ${parts.join(", ")}`;
  }
  const { events } = selection;
  const parts = [`status ${events.status}`];
  if (events.source !== undefined) parts.push(`source ${events.source}`);
  if (events.receivedSince !== undefined) parts.push(`since ${iso(events.receivedSince)}`);
  parts.push(`until ${iso(events.receivedBefore)}`);
  return `events: ${parts.join(", ")}`;
}
