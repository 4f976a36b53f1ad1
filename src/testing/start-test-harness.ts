import { randomBytes } from "node:crypto";
import pino from "pino";
import { type LogLevel, readSettings } from "../config/settings.ts";
import { openVault } from "../connections/vault/open-vault.ts";
import { startDevEnvironment } from "../demo/dev-environment.ts";
import type { SendEventInput } from "../engine/engine.ts";
import { importConfigAfresh } from "./import-config.ts";
import { type RunQuery, readRuns, type TestRun } from "./test-runs.ts";
import { type TestSandbox, testSandbox } from "./test-sandbox.ts";
import { type WaitForRunsOptions, waitForRuns } from "./wait-for-runs.ts";

export interface TestHarnessOptions {
  /**
   * Your `tenon.config.ts`: a file URL (`new URL("../tenon.config.ts", import.meta.url)`) or a path from the
   * working directory. It is evaluated after the sandbox starts, with the sandbox's variables in `process.env`
   * (`TENON_SANDBOX_URL`, `STORE_WEBHOOK_SECRET`, `CRM_CLIENT_ID`, …: the ones `tenon dev` sets).
   */
  config: URL | string;
  /**
   * How many times faster than the providers' schedules the sandbox retries a webhook Tenon did not
   * accept. Default 3600: Shopify's four hours of retries take four seconds.
   */
  webhookTimeScale?: number;
  /** The engine's log, on stderr. Default "silent": a run's errors are in `waitForRuns`' answer. */
  logLevel?: LogLevel;
}

/** What a test sends through the engine's event API; `source` defaults to "api". */
export type TestEvent = SendEventInput;

export interface SentEvent {
  eventId: string;
  /** One run per integration the event triggers; none for a duplicate (a second event with the same `source` and `id`). */
  runIds: string[];
  duplicate: boolean;
}

export interface TestHarness {
  /** The sandbox systems the config talks to: drive them (`store.placeOrder()`) and read their records (`crm.state()`). */
  readonly sandbox: TestSandbox;
  /** Tenon's HTTP server, e.g. `http://127.0.0.1:41235` (webhooks at `/hooks/<source>`). */
  readonly url: string;
  /** Stores an event as the event API would (no signature, no HTTP) and starts its runs. */
  send(event: TestEvent): Promise<SentEvent>;
  /** The runs so far, oldest first, of one integration, one event, or all. */
  runs(query?: RunQuery): Promise<TestRun[]>;
  /**
   * Waits until `count` (default 1) runs match and all of them have finished (succeeded, failed or dead);
   * returns them, oldest first. On timeout (default 10 s) it throws a `WaitForRunsTimeoutError` that says
   * where each run stands, with its last error, and which events and webhooks arrived.
   */
  waitForRuns(options: WaitForRunsOptions): Promise<TestRun[]>;
  /** `waitForRuns` for one run: the first that matches, once it has finished. */
  waitForRun(options: Omit<WaitForRunsOptions, "count">): Promise<TestRun>;
  /** Lets the runs in flight finish (up to 5 s), stops Tenon and the sandbox, and restores `process.env`. */
  stop(): Promise<void>;
}

const stopDeadlineMs = 5_000;

/**
 * Starts what `tenon dev` runs, for a test: the sandbox on a free port, your config evaluated against it,
 * and Tenon (engine, worker, webhook server) on a free port with an in-memory SQLite database and a
 * throwaway master key. Every sandbox system that is a webhook source of the config sends its webhooks
 * to Tenon. Nothing is written to disk; `stop()` in an `after`/`afterEach` hook.
 *
 * ```ts
 * const tenon = await startTestHarness({ config: new URL("../tenon.config.ts", import.meta.url) });
 * tenon.sandbox.store.placeOrder({ email: "ada@example.com" });
 * const run = await tenon.waitForRun({ integration: "order-to-crm" });
 * assert.equal(run.status, "succeeded");
 * await tenon.stop();
 * ```
 */
export async function startTestHarness(options: TestHarnessOptions): Promise<TestHarness> {
  const level = options.logLevel ?? "silent";
  const logger = pino({ level }, pino.destination(2));
  const settings = { ...readSettings({}), httpPort: 0, logLevel: level };
  const environmentBefore = { ...process.env };
  const dev = await startDevEnvironment({
    purpose: "tenon/testing",
    loadConfig: () => importConfigAfresh(options.config),
    databasePath: ":memory:",
    settings,
    logger,
    sandboxPort: 0,
    webhookTimeScale: options.webhookTimeScale ?? 3600,
    vault: openVault({ env: { TENON_MASTER_KEY: randomBytes(32).toString("base64") } }),
  }).catch((error: unknown) => {
    restoreEnvironment(environmentBefore, Object.keys(process.env));
    throw error;
  });
  const storage = dev.services.engine.storage;
  const sandbox = testSandbox(dev.sandbox, dev.environment);
  const integrationIds = dev.config.integrations.map((integration) => integration.id);
  const checkQuery = (query: RunQuery) => {
    if (query.integration !== undefined && !integrationIds.includes(query.integration)) {
      throw new Error(`no integration "${query.integration}" in the config; it has: ${integrationIds.join(", ")}`);
    }
  };
  let stopped: Promise<void> | undefined;
  return {
    sandbox,
    url: dev.services.address,
    async send(event) {
      const result = await dev.services.engine.send(event);
      return { eventId: result.eventId, runIds: result.runIds, duplicate: result.duplicate };
    },
    runs(query = {}) {
      checkQuery(query);
      return readRuns(storage, query);
    },
    waitForRuns(waitOptions) {
      checkQuery(waitOptions);
      return waitForRuns(storage, sandbox, waitOptions);
    },
    async waitForRun(waitOptions) {
      checkQuery(waitOptions);
      const [first] = await waitForRuns(storage, sandbox, { ...waitOptions, count: 1 });
      return first as TestRun;
    },
    stop() {
      stopped ??= dev
        .stop(stopDeadlineMs)
        .finally(() => restoreEnvironment(environmentBefore, Object.keys(dev.environment)));
      return stopped;
    },
  };
}

/** Puts back what `names` held before the sandbox set them, so one test's sandbox does not leak into the next. */
function restoreEnvironment(before: NodeJS.ProcessEnv, names: string[]): void {
  for (const name of names) {
    const value = before[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}
