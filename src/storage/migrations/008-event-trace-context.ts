import type { Kysely } from "kysely";

/**
 * The trace context of the request that brought an event in (W3C `traceparent`/`tracestate`, as JSON), so
 * that its runs, executed later and perhaps by another worker process, continue the request's trace. Null
 * when the request was not traced (no OpenTelemetry SDK configured), and for polled and scheduled events.
 */
export function eventTraceContextSchema(_dialect: "sqlite" | "postgres") {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("events").addColumn("trace_context", "text").execute();
    },
  };
}
