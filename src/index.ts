export { defineConfig } from "./config/define-config.ts";
export type { Engine, EngineOptions } from "./engine/engine.ts";
export { createEngine } from "./engine/engine.ts";
export type {
  Integration,
  IntegrationDefinition,
  RunContext,
  StepContext,
  StepTools,
  Trigger,
  TriggerEvent,
} from "./sdk/define-integration.ts";
export { defineIntegration } from "./sdk/define-integration.ts";
export type { Duration } from "./sdk/duration.ts";
export { ConfigurationError, NonRetryableError, RetryableError, ValidationError } from "./sdk/errors.ts";
export type { RetryPolicy } from "./sdk/retry-policy.ts";
export type { Storage } from "./storage/contract.ts";
export { openStorage } from "./storage/open-storage.ts";
