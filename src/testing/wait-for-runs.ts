import type { Storage } from "../storage/contract.ts";
import { terminalStatuses } from "../storage/contract.ts";
import { type RunQuery, readRuns, type TestRun } from "./test-runs.ts";
import { type SandboxSystemName, sandboxSystemNames, type TestSandbox } from "./test-sandbox.ts";

export interface WaitForRunsOptions extends RunQuery {
  /** How many runs to wait for. Default 1. */
  count?: number;
  /** How long to wait before failing with what Tenon and the sandbox saw. Default 10 000 ms. */
  timeoutMs?: number;
}

/** `waitForRuns` gave up: `runs` are the runs it found (perhaps none), each with its status and last error. */
export class WaitForRunsTimeoutError extends Error {
  readonly runs: TestRun[];

  constructor(message: string, runs: TestRun[]) {
    super(message);
    this.name = "WaitForRunsTimeoutError";
    this.runs = runs;
  }
}

const pollIntervalMs = 20;
const shownErrorLength = 500;

/**
 * Polls storage until at least `count` runs match and every one of them has finished (succeeded, failed or
 * dead), and returns them all, oldest first. A run that is retrying, waiting on a connection or paused
 * on rejected credentials has not finished: on timeout the error says where each run stands, what events
 * arrived, and which sandbox webhooks Tenon did not accept.
 */
export async function waitForRuns(
  storage: Storage,
  sandbox: TestSandbox,
  options: WaitForRunsOptions,
): Promise<TestRun[]> {
  const count = options.count ?? 1;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = await readRuns(storage, options);
    if (runs.length >= count && runs.every((run) => terminalStatuses.includes(run.status))) return runs;
    if (Date.now() >= deadline) {
      const message = await describeTimeout(storage, sandbox, options, { count, timeoutMs, runs });
      throw new WaitForRunsTimeoutError(message, runs);
    }
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}

async function describeTimeout(
  storage: Storage,
  sandbox: TestSandbox,
  query: RunQuery,
  waited: { count: number; timeoutMs: number; runs: TestRun[] },
): Promise<string> {
  const { count, timeoutMs, runs } = waited;
  const finished = runs.filter((run) => terminalStatuses.includes(run.status)).length;
  const lines = [
    `waitForRuns: gave up after ${timeoutMs} ms waiting for ${count} finished run${count === 1 ? "" : "s"} ${describeQuery(query)}; found ${runs.length}, ${finished} finished${runs.length === 0 ? "." : ":"}`,
  ];
  for (const run of runs) lines.push(`  ${describeRun(run)}`);
  const events = await storage.listEvents({ limit: 10 });
  lines.push(events.length === 0 ? "Tenon received no events." : "Events received, newest first:");
  for (const event of events) {
    const reason = event.error === null ? "" : `: ${clip(event.error)}`;
    lines.push(`  ${event.id} ${event.source} ${event.type}: ${event.status}${reason}`);
  }
  const undelivered = sandboxSystemNames.flatMap((name) => undeliveredWebhooks(sandbox, name));
  if (undelivered.length > 0) lines.push("Sandbox webhooks Tenon has not accepted:", ...undelivered);
  return lines.join("\n");
}

function describeQuery(query: RunQuery): string {
  const parts = [
    query.integration === undefined ? "" : `of integration "${query.integration}"`,
    query.event === undefined ? "" : `of event ${query.event}`,
  ].filter((part) => part !== "");
  return parts.length === 0 ? "(of any integration)" : parts.join(" ");
}

function describeRun(run: TestRun): string {
  const failures = run.failures === 0 ? "" : ` after ${run.failures} failed attempt${run.failures === 1 ? "" : "s"}`;
  const error = run.lastError === null ? "" : `; last error: ${clip(run.lastError)}`;
  return `${run.id} ${run.integration} ${run.status}${failures}${error}`;
}

function undeliveredWebhooks(sandbox: TestSandbox, name: SandboxSystemName): string[] {
  const webhooks = sandbox.webhooks(name);
  return [...webhooks.pending, ...webhooks.failed].map((delivery) => {
    const answer = delivery.lastStatus === null ? (delivery.lastError ?? "no answer") : `HTTP ${delivery.lastStatus}`;
    const attempts = `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`;
    return `  ${name} ${delivery.topic} to ${webhooks.url ?? "(no target)"}: ${delivery.status} after ${attempts}, last: ${answer}`;
  });
}

function clip(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > shownErrorLength ? `${line.slice(0, shownErrorLength)}…` : line;
}
