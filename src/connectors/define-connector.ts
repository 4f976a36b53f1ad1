import type { z } from "zod";
import type { ConnectionConfig } from "../connections/connection-config.ts";
import { noteEventSchemaRead, noteSchemaRead } from "../drift/schema-reads.ts";
import type { BuiltInProviderName } from "../ingestion/webhooks/webhook-sources.ts";
import { currentStep } from "../runtime/step-scope.ts";
import type { ConnectionClient } from "../sdk/connection-client.ts";
import { ConfigurationError, NonRetryableError } from "../sdk/errors.ts";

/**
 * How an operation keeps a retry from making a second change in the other system:
 * - `read`: it changes nothing;
 * - `natural`: the API call is itself an upsert or a set (contact by email, stock level);
 * - `header`: the API honours `Idempotency-Key` (sent automatically from the step's key);
 * - `check-then-act`: the API has no idempotency, so the operation first looks for what a previous
 *   attempt may have made (by a reference number, or the step's key stored on the record), then acts.
 */
export type IdempotencyStrategy = "read" | "natural" | "header" | "check-then-act";

export interface OperationContext {
  /**
   * This call's key when called inside `step.run`, else undefined: the same on every retry of the step,
   * and different for each check-then-act call within one step (the step's key, then `key:2`, … in call
   * order), so two notes made in one step are two notes. The default reference of check-then-act.
   */
  stepKey: string | undefined;
}

export interface OperationDefinition<Input extends z.ZodType, Output extends z.ZodType> {
  /** One line for the connector's README and error messages. */
  description: string;
  /** Checked before any request: bad input fails the run with the reason, nothing is sent. */
  input: Input;
  /** Checked on every answer: an API that changed its shape fails loudly instead of storing wrong data. */
  output: Output;
  idempotency: IdempotencyStrategy;
  /** The API call(s); returns the raw answer that `output` checks. */
  call(client: ConnectionClient, input: z.output<Input>, context: OperationContext): Promise<unknown>;
}

/**
 * Declares one operation of a connector, typed: `call` receives `input` as the `input` schema's output,
 * with no annotation needed. Returns the definition unchanged.
 */
export function defineOperation<Input extends z.ZodType, Output extends z.ZodType>(
  definition: OperationDefinition<Input, Output>,
): OperationDefinition<Input, Output> {
  return definition;
}

// biome-ignore lint/suspicious/noExplicitAny: operations of any schema live side by side
type AnyOperation = OperationDefinition<any, any>;

export interface ConnectorDefinition<Options, Operations extends Record<string, AnyOperation>> {
  /** The folder name: `hubspot`, `stripe`. */
  id: string;
  /** The system, as people call it: "HubSpot CRM". */
  title: string;
  /** The API version the requests follow (named in the connector's README). */
  apiVersion: string;
  /** The connection config with this connector's defaults (auth scheme, rate limit, version headers). */
  connection(options: Options): ConnectionConfig;
  /** The system's webhooks: Tenon's verifier for them, and which field makes their dedup key. */
  webhooks?: { provider: BuiltInProviderName; dedupKey: string };
  operations: Operations;
}

/** The typed client of a connector, bound to one connection: one async function per operation. */
export type ConnectorClient<Operations extends Record<string, AnyOperation>> = {
  [Name in keyof Operations]: (
    input: z.input<Operations[Name]["input"]>,
  ) => Promise<z.output<Operations[Name]["output"]>>;
};

export interface Connector<Options, Operations extends Record<string, AnyOperation>>
  extends Readonly<ConnectorDefinition<Options, Operations>> {
  /** Binds the operations to a connection: `hubspot.client(connection("crm")).upsertContact({ … })`. */
  client(connection: ConnectionClient): ConnectorClient<Operations>;
}

/** The API answered with a shape the connector does not know: the API changed (a field renamed, dropped or retyped). */
export class ResponseShapeError extends NonRetryableError {
  override readonly name = "ResponseShapeError" as "NonRetryableError";
}

const idPattern = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * Declares a connector: everything Tenon knows about one external system, in one folder
 * (`src/connectors/<id>/`): its auth scheme and defaults, its webhooks, and typed operations whose
 * inputs and answers are checked with zod and whose idempotency strategy is stated.
 */
export function defineConnector<Options, Operations extends Record<string, AnyOperation>>(
  definition: ConnectorDefinition<Options, Operations>,
): Connector<Options, Operations> {
  if (!idPattern.test(definition.id ?? "")) {
    throw new ConfigurationError(`connector id "${definition.id}" must be a-z, 0-9 and "-", starting with a letter`);
  }
  for (const [name, operation] of Object.entries(definition.operations)) {
    if (typeof operation.call !== "function" || !operation.input || !operation.output) {
      throw new ConfigurationError(`connector "${definition.id}": operation "${name}" needs input, output and call`);
    }
  }
  const client = (connection: ConnectionClient): ConnectorClient<Operations> => {
    const bound: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [name, operation] of Object.entries(definition.operations)) {
      bound[name] = (input) => callOperation(`${definition.id}.${name}`, operation, connection, input);
    }
    return bound as ConnectorClient<Operations>;
  };
  return Object.freeze({ ...definition, client });
}

async function callOperation(
  where: string,
  operation: AnyOperation,
  connection: ConnectionClient,
  input: unknown,
): Promise<unknown> {
  const parsedInput = operation.input.safeParse(input);
  if (!parsedInput.success) {
    throw new NonRetryableError(`${where}: invalid input, nothing was sent: ${describeIssues(parsedInput.error)}`);
  }
  const answer = await operation.call(connection, parsedInput.data, { stepKey: callKey(operation) });
  return checkAnswer(operation.output, answer, where);
}

/**
 * Returns an API's answer typed by `schema`, or fails with ResponseShapeError naming the fields that
 * differ. `where` names the call: `postmark.sendEmail (GET /messages/outbound)`. Operations use it on
 * the answers they read along the way, so that a changed shape fails the step instead of reading as
 * "nothing there yet".
 */
export function checkAnswer<Schema extends z.ZodType>(schema: Schema, body: unknown, where: string): z.output<Schema> {
  noteSchemaRead(schema, body);
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new ResponseShapeError(
    `${where}: the API's answer does not have the documented shape (did the API change?): ${describeIssues(parsed.error)}`,
  );
}

/**
 * A check-then-act call takes the step's next write key, like a request with an Idempotency-Key: each call
 * of a step gets its own, the same on every attempt because a step's calls happen in the same order.
 */
function callKey(operation: AnyOperation): string | undefined {
  const scope = currentStep();
  if (!scope) return undefined;
  return operation.idempotency === "check-then-act" ? scope.nextWriteKey() : scope.idempotencyKey;
}

/** `customer.email: expected string, received undefined; lines[0].quantity: …` */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

/**
 * Checks an inbound event's payload against a connector's schema (`shopifyOrderSchema`) and returns it
 * typed. Bad data fails the run with the reason and no retry, instead of reaching the other systems wrong.
 */
export function parseEventPayload<Schema extends z.ZodType>(
  schema: Schema,
  payload: unknown,
  what: string,
): z.output<Schema> {
  noteEventSchemaRead(schema);
  const parsed = schema.safeParse(payload);
  if (!parsed.success) throw new NonRetryableError(`the ${what} is not valid: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
