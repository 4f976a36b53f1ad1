import type { RunRecord, RunStatus, StepRecord, Storage } from "../storage/contract.ts";

/** One step of a run as its journal holds it. */
export interface TestStep {
  name: string;
  status: "completed" | "failed";
  /** Failed attempts of this step so far. */
  failures: number;
  /** What `fn` returned (parsed JSON); undefined when it returned nothing. */
  output: unknown;
  error: string | null;
}

/** One run of an integration, as a test asserts on it. */
export interface TestRun {
  id: string;
  integration: string;
  eventId: string;
  status: RunStatus;
  /** Failed attempts so far. */
  failures: number;
  lastError: string | null;
  /** What the integration's `run` returned (parsed JSON), once it succeeded. */
  output: unknown;
  /** The journaled steps, the most recently finished last. */
  steps: TestStep[];
}

/** Which runs: of one integration, of one event, or both. */
export interface RunQuery {
  /** The integration's `id`. */
  integration?: string;
  /** The stored event's id, as `send` returns it. */
  event?: string;
}

/** The runs the query selects, oldest first, with their steps. */
export async function readRuns(storage: Storage, query: RunQuery): Promise<TestRun[]> {
  const records = await storage.listRuns({
    ...(query.integration === undefined ? {} : { integrationId: query.integration }),
    ...(query.event === undefined ? {} : { eventId: query.event }),
    limit: 10_000,
  });
  // Storage lists the newest first; a test reads them in the order the events arrived.
  return Promise.all(records.reverse().map(async (record) => toTestRun(record, await storage.listSteps(record.id))));
}

function toTestRun(record: RunRecord, steps: StepRecord[]): TestRun {
  return {
    id: record.id,
    integration: record.integrationId,
    eventId: record.eventId,
    status: record.status,
    failures: record.failures,
    lastError: record.lastError,
    output: parseJson(record.outputJson),
    steps: steps.map((step) => ({
      name: step.name,
      status: step.status,
      failures: step.failures,
      output: parseJson(step.outputJson),
      error: step.error,
    })),
  };
}

function parseJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
