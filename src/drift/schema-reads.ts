import type { z } from "zod";
import { currentRun } from "../runtime/run-scope.ts";
import { type SchemaField, schemaFieldPaths } from "./schema-field-paths.ts";

/**
 * How the drift learner finds out which fields a connector or an integration reads. Module-level on purpose:
 * connectors know nothing of the learner, and when nothing listens a check costs one lookup.
 *
 * Answers: the learner marks each body it samples; a connector checking that same body against its zod schema
 * (`checkAnswer`) reports the schema here, and the learner files its fields under the body's shape.
 * Events: a run checking its event's payload (`parseEventPayload`) reports the schema with the event's source
 * and type, which the run's scope carries.
 */
const markedBodies = new WeakMap<object, (fields: SchemaField[]) => void>();
type EventSchemaListener = (source: string, eventType: string, fields: SchemaField[]) => void;
const eventSchemaListeners = new Set<EventSchemaListener>();

export function expectSchemaReads(body: object, onRead: (fields: SchemaField[]) => void): void {
  markedBodies.set(body, onRead);
}

export function noteSchemaRead(schema: z.ZodType, body: unknown): void {
  if (body === null || typeof body !== "object") return;
  const onRead = markedBodies.get(body);
  if (onRead) onRead(schemaFieldPaths(schema));
}

/** Returns the function that stops listening. */
export function listenToEventSchemas(listener: EventSchemaListener): () => void {
  eventSchemaListeners.add(listener);
  return () => eventSchemaListeners.delete(listener);
}

export function noteEventSchemaRead(schema: z.ZodType): void {
  if (eventSchemaListeners.size === 0) return;
  const event = currentRun()?.event;
  if (!event) return;
  const fields = schemaFieldPaths(schema);
  for (const listener of eventSchemaListeners) listener(event.source, event.type, fields);
}
