import { readSettings } from "../../config/settings.ts";
import { loadRunTimeline, type RunTimeline, type StepAttempt } from "../../observability/run-timeline.ts";
import { runTimelineToJson } from "../../observability/run-timeline-json.ts";
import { ValidationError } from "../../sdk/errors.ts";
import type { AuditRecord } from "../../storage/connection-store.ts";
import type { RunHistoryEntry } from "../../storage/contract.ts";
import { describeReplayActor } from "../../storage/operator-store.ts";
import { formatLocalTime, formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage } from "../storage-from-settings.ts";
import { wrapText } from "../wrap-text.ts";

/** `tenon runs show <runId>`: the run's timeline, from its event to its final state. */
export async function showRunCommand(runId: string, options: { json?: boolean }): Promise<void> {
  const storage = await openExistingStorage(readSettings());
  try {
    // Prepares the statements the audit trail and incidents are read with; a no-op on an up-to-date database.
    await storage.migrate();
    const now = Date.now();
    const timeline = await loadRunTimeline(storage, runId, now);
    if (!timeline) throw new ValidationError(`no run "${runId}" is stored; \`tenon runs\` lists the stored ones`);
    console.log(options.json ? JSON.stringify(runTimelineToJson(timeline)) : formatTimeline(timeline, now));
  } finally {
    await storage.close();
  }
}

interface Line {
  at: number;
  /** Orders lines at the same instant: an attempt's start before its exchanges, those before its end. */
  order: number;
  text: string[];
}

function formatTimeline(timeline: RunTimeline, now: number): string {
  const { run, event } = timeline;
  const fields: [string, string][] = [
    ["run", run.id],
    ["integration", run.integrationId],
    ["status", run.waitingOn === null ? run.status : `${run.status} (on connection ${run.waitingOn})`],
    ["created", formatLocalTimeWithAge(run.createdAt, now)],
    ["started", run.startedAt === null ? "-" : formatLocalTimeWithAge(run.startedAt, now)],
    ["finished", run.finishedAt === null ? "-" : formatLocalTimeWithAge(run.finishedAt, now)],
  ];
  if (run.crashes > 0) fields.push(["crashes", `${run.crashes} interruption(s) in a row without progress`]);
  if (event) {
    const providerId = event.dedupKey === null ? "" : `, provider id ${event.dedupKey}`;
    fields.push(["event", `${event.id} (${event.source} ${event.type}${providerId})`]);
  }
  const width = Math.max(...fields.map(([label]) => label.length));
  const lines = fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
  lines.push("", "timeline:", ...timelineLines(timeline, now));
  if (run.lastError !== null && run.status !== "succeeded")
    lines.push("", "last error:", ...indented(run.lastError, 2));
  return lines.join("\n");
}

function timelineLines(timeline: RunTimeline, now: number): string[] {
  const { run, event } = timeline;
  const entries: Line[] = [];
  if (event) {
    const providerId = event.dedupKey === null ? "" : ` (provider id ${event.dedupKey})`;
    entries.push({
      at: event.receivedAt,
      order: 0,
      text: [`event received: ${event.source} ${event.type}${providerId}`],
    });
  }
  // Happenings first: a claim sorts before the attempt it starts in the same millisecond (the sort is stable).
  for (const h of timeline.happenings) entries.push(happeningLine(h, now));
  for (const step of timeline.steps) {
    for (const attempt of step.attempts) entries.push(attemptLine(step.name, step.idempotencyKey, attempt));
  }
  for (const exchange of timeline.exchanges) entries.push(exchangeLine(exchange));
  for (const i of timeline.incidents) {
    entries.push({ at: i.at, order: 1, text: [`connection ${i.connectionId}: ${i.kind}`, ...indented(i.detail, 2)] });
  }
  // The run's current end is its row's (a success in the history is an earlier one, or one written before 013).
  const successTold = timeline.happenings.some((h) => h.kind === "succeeded" && h.at === run.finishedAt);
  if (run.finishedAt !== null && !successTold)
    entries.push({ at: run.finishedAt, order: 3, text: [`run ${run.status}`] });
  else entries.push({ at: now, order: 3, text: [`now ${run.status}${untilText(run.availableAt, run.status, now)}`] });
  entries.sort((a, b) => a.at - b.at || a.order - b.order);
  const stamps = entries.map(({ at }) => formatLocalTimeWithAge(at, now));
  const width = Math.max(...stamps.map((stamp) => stamp.length));
  return entries.flatMap(({ text }, index) => {
    const [first = "", ...rest] = text;
    const stamp = (stamps[index] ?? "").padEnd(width);
    return [`  ${stamp}  ${first}`, ...rest.map((line) => `  ${" ".repeat(width)}  ${line}`)];
  });
}

function untilText(availableAt: number, status: string, now: number): string {
  const timed = ["queued", "retrying", "sleeping", "waiting"].includes(status) && availableAt > now;
  return timed ? `, due ${formatLocalTime(availableAt)}` : "";
}

function attemptLine(name: string, idempotencyKey: string, a: StepAttempt): Line {
  const which = a.attempt === null ? "" : ` attempt ${a.attempt}`;
  const took = a.startedAt === null ? "" : ` after ${a.finishedAt - a.startedAt} ms`;
  const then = a.runAfter === "retry" ? ", will retry" : a.runAfter === null ? "" : `, run ${a.runAfter}`;
  return {
    at: a.startedAt ?? a.finishedAt,
    order: 0,
    text: [
      `step "${name}"${which} ${a.outcome}${took}${then}`,
      `  idempotency key ${idempotencyKey}`,
      ...(a.error === null ? [] : indented(a.error, 2)),
    ],
  };
}

function happeningLine(h: RunHistoryEntry, now: number): Line {
  const on = h.connectionId === null ? "" : ` on connection ${h.connectionId}`;
  const until = h.until === null ? "" : ` until ${formatLocalTimeWithAge(h.until, now)}`;
  const head: Record<RunHistoryEntry["kind"], string> = {
    claim: `claimed by ${h.detail ?? "a worker"}`,
    resume: `resumed${on}: ${h.detail ?? "due again"}`,
    succeeded: "run succeeded",
    retry: `run attempt ${h.attempt} failed outside any step, will retry`,
    dead: `run attempt ${h.attempt} failed outside any step, run dead`,
    failed: `run attempt ${h.attempt} failed outside any step, run failed`,
    wait: `waited${on}${until}, no attempt used`,
    pause: `paused${on} until its credentials are updated, no attempt used`,
    sleep: `sleep "${h.stepName}"${until}`,
    interrupt: "interrupted: requeued without an attempt used",
    replay: `replayed (was ${h.detail})${h.actor === undefined ? "" : ` by ${describeReplayActor(h.actor)}`}`,
  };
  const inHead = h.kind === "replay" || h.kind === "claim" || h.kind === "resume";
  const detail = inHead || h.detail === null ? [] : indented(h.detail, 2);
  const order = h.kind === "claim" ? 0 : h.kind === "succeeded" ? 3 : 2;
  return { at: h.startedAt ?? h.at, order, text: [head[h.kind], ...detail] };
}

function exchangeLine(e: AuditRecord): Line {
  const outcome = e.status === null ? `no response: ${e.error ?? "unknown"}` : String(e.status);
  const step = e.stepName === null ? "" : ` (step "${e.stepName}")`;
  const text = [`→ ${e.connectionId}: ${e.method} ${e.url}  ${outcome}  ${e.durationMs} ms${step}`];
  if (e.requestBody !== null) text.push("  request:", ...indented(readableBody(e.requestBody), 4));
  if (e.responseBody !== null) text.push("  response:", ...indented(readableBody(e.responseBody), 4));
  return { at: e.at, order: 1, text };
}

/** A JSON body (as the audit trail stores it, redacted) indented one key a line; any other body as it is. */
function readableBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** What a timeline line starts with before its text: two spaces, the time with its age, two spaces. */
const timelineMargin = 36;

/**
 * Wrapped to the terminal's width (100 columns when not a terminal) after the timeline's margin, `by` spaces
 * in, the text's own lines kept.
 */
function indented(text: string, by: number): string[] {
  const width = (process.stdout.columns ?? 100) - timelineMargin - by;
  return wrapText(text, Math.max(width, 40)).map((line) => `${" ".repeat(by)}${line}`);
}
