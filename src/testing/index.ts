/**
 * `tenon/testing`: run your integrations in a test, offline, against the sandbox (see docs/testing.md).
 * Works with node:test and vitest alike.
 */
export {
  type SentEvent,
  startTestHarness,
  type TestEvent,
  type TestHarness,
  type TestHarnessOptions,
} from "./start-test-harness.ts";
export type { RunQuery, TestRun, TestStep } from "./test-runs.ts";
export type { SandboxSystemName, TestSandbox, TestSandboxSystem, TestWebhooks } from "./test-sandbox.ts";
export { type WaitForRunsOptions, WaitForRunsTimeoutError } from "./wait-for-runs.ts";
