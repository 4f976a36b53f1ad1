import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import type { Connections } from "../../src/connections/connections.ts";
import { runInStep } from "../../src/runtime/step-scope.ts";
import {
  createSandbox,
  type Sandbox,
  type SandboxOptions,
  type SandboxSystemFactory,
} from "../../src/sandbox/create-sandbox.ts";
import type { ConnectionClient } from "../../src/sdk/connection-client.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { sqliteBackend, type TestDatabase } from "./backends.ts";
import { testConnections } from "./connections.ts";

/** A sandbox on a free loopback port running `systems`; close it after the test. */
export async function startTestSandbox(
  systems: Record<string, SandboxSystemFactory>,
  options: Pick<SandboxOptions, "webhookUrls" | "webhookTimeScale"> = {},
): Promise<Sandbox> {
  const sandbox = createSandbox({ systems, ...options });
  await sandbox.listen();
  return sandbox;
}

export interface SandboxConnections {
  storage: Storage;
  connections: Connections;
  client(name: string): ConnectionClient;
  /**
   * Runs `fn` as if inside `step.run` of a run (so writes carry the step's idempotency key and
   * operations see `stepKey`); call it twice with the same key to act out a retried step.
   */
  inStep<T>(fn: () => Promise<T>, options?: { key?: string; attempt?: number }): Promise<T>;
  close(): Promise<void>;
}

/**
 * Real connections (vault, auth, rate limits, audit) on a fresh SQLite database, configured with
 * `configs` (usually `connector.connection({ baseUrl: sandbox.baseUrl(name), … })`).
 */
export async function connectToSandbox(configs: Record<string, ConnectionConfig>): Promise<SandboxConnections> {
  const db: TestDatabase = sqliteBackend.create();
  const storage = db.open();
  await storage.migrate();
  const connections = testConnections(storage, configs);
  let steps = 0;
  return {
    storage,
    connections,
    client: (name) => connections.client(name),
    inStep(fn, options = {}) {
      steps += 1;
      const key = options.key ?? `test-run:step-${steps}`;
      return runInStep(
        { runId: "test-run", stepName: `step-${steps}`, idempotencyKey: key, attempt: options.attempt ?? 1 },
        fn,
      );
    },
    async close() {
      await connections.stop();
      await storage.close();
      await db.cleanup();
    },
  };
}
