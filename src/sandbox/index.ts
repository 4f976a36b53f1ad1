export { createSandbox, type Sandbox, type SandboxOptions, type SandboxSystemFactory } from "./create-sandbox.ts";
export type { Faults, FaultsInput } from "./faults.ts";
export type { CapturedRequest } from "./request-log.ts";
export { sandboxEnvironment } from "./sandbox-environment.ts";
export type { SandboxContext, SandboxSystem } from "./sandbox-system.ts";
export { builtInSystems } from "./systems/index.ts";
export {
  shopifyWebhookRetries,
  standardWebhooksRetries,
  stripeWebhookRetries,
  type WebhookRetrySchedule,
} from "./webhook-retry-schedules.ts";
export type { WebhookDeliveryState, WebhookMessage } from "./webhook-sender.ts";
