export { defineConfig, type TenonConfig } from "./config/define-config.ts";
export type {
  AuthConfig,
  ConnectionConfig,
  ConnectionCredentials,
  OAuth2AuthorizationCodeConfig,
  OAuth2ClientCredentialsConfig,
  OutgoingRequest,
  SignRequest,
} from "./connections/connection-config.ts";
export { type ConnectionSummary, Connections, type ConnectionsOptions } from "./connections/connections.ts";
export { openVault } from "./connections/vault/open-vault.ts";
export {
  type Connector,
  type ConnectorClient,
  type ConnectorDefinition,
  checkAnswer,
  defineConnector,
  defineOperation,
  type IdempotencyStrategy,
  type OperationContext,
  type OperationDefinition,
  parseEventPayload,
  ResponseShapeError,
} from "./connectors/define-connector.ts";
export type { Engine, EngineOptions } from "./engine/engine.ts";
export { createEngine } from "./engine/engine.ts";
export type { BuiltInProviderName, WebhookSourceConfig } from "./ingestion/webhooks/webhook-sources.ts";
export type {
  OperationalEventType,
  OperationalWebhookConfig,
  OperationalWebhooksConfig,
} from "./operational-webhooks/operational-webhooks-config.ts";
export type { ConnectionClient, HttpResponse, RequestOptions } from "./sdk/connection-client.ts";
export type {
  ConcurrencyOptions,
  Entities,
  EntityValue,
  Integration,
  IntegrationDefinition,
  Jsonified,
  RunContext,
  StepContext,
  StepOptions,
  StepTools,
  Trigger,
  TriggerEvent,
} from "./sdk/define-integration.ts";
export { defineIntegration } from "./sdk/define-integration.ts";
export type { Poll, PollContext, PollDefinition, PollPage } from "./sdk/define-poll.ts";
export { definePoll } from "./sdk/define-poll.ts";
export type {
  CompareField,
  FindingRecord,
  FindingSide,
  MatchKey,
  ReconcileFinding,
  ReconcileFindingType,
  ReconcileListContext,
  ReconcileListPage,
  ReconcileSideDefinition,
  Reconciliation,
  ReconciliationDefinition,
  RepairAction,
  RepairContext,
  RepairEvent,
  RepairPolicy,
} from "./sdk/define-reconciliation.ts";
export { defineReconciliation } from "./sdk/define-reconciliation.ts";
export { type Duration, durationToMs } from "./sdk/duration.ts";
export {
  AuthError,
  CircuitOpenError,
  ConfigurationError,
  type ErrorResponse,
  NonRetryableError,
  RateLimitedError,
  RetryableError,
  ValidationError,
} from "./sdk/errors.ts";
export {
  type NormalizedValue,
  type Normalizer,
  normalizers,
} from "./sdk/reconcile-normalizers.ts";
export type { RetryPolicy } from "./sdk/retry-policy.ts";
export { type Secret, type SecretRef, secretFromEnv } from "./sdk/secret-from-env.ts";
export type { ServerOptions, TenonServer } from "./server/create-server.ts";
export { createServer } from "./server/create-server.ts";
export type { Storage } from "./storage/contract.ts";
export { openStorage } from "./storage/open-storage.ts";
