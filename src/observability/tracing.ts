import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";

/**
 * Tenon's spans, through `@opentelemetry/api` only: with no SDK registered (no OTEL_EXPORTER_OTLP_ENDPOINT),
 * every span is the API's non-recording no-op and no context is carried, so the cost is a few function calls.
 * Attributes that cost something to compute (a redacted URL) are computed only for a recording span.
 *
 * One trace runs from the request that brought an event in to the last outbound call of its runs: the
 * request's context is stored with the event (`captureTraceContext`, migration 008), and each execution of a
 * run, by whichever worker process claims it, starts its `tenon.run` span as a child of it.
 */
/** The API's no-op provider: what a proxy delegates to while no SDK is registered. */
const noopProvider = new ProxyTracerProvider().getDelegate();
/** What every start* function returns while nothing is traced: no span, no context, nothing allocated. */
const untraced: ActiveSpan = { span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT), context: ROOT_CONTEXT };
let current: { delegate: TracerProvider; tracer: Tracer | undefined } | undefined;

/**
 * Tenon's tracer from the SDK registered now, or undefined when there is none. Looked up at each span rather
 * than once at load, so that an SDK registered after another shut down (a process that restarts its services, a
 * test suite) is followed; and without an SDK, the API's own no-op spans (a span object, a context and a
 * proxy lookup each, a microsecond per step and request) are not even made.
 */
function activeTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  if (current?.delegate !== delegate) {
    current = { delegate, tracer: delegate === noopProvider ? undefined : delegate.getTracer("tenon") };
  }
  return current.tracer;
}

/**
 * Semantic-convention attribute names (https://opentelemetry.io/docs/specs/semconv/http/http-spans/), written
 * out rather than imported: `@opentelemetry/semantic-conventions` costs tens of milliseconds of every start-up
 * for a handful of strings. The tests check them against that package.
 */
export const httpAttributes = {
  method: "http.request.method",
  route: "http.route",
  statusCode: "http.response.status_code",
  resendCount: "http.request.resend_count",
  urlPath: "url.path",
  urlScheme: "url.scheme",
  urlFull: "url.full",
  urlTemplate: "url.template",
  serverAddress: "server.address",
  serverPort: "server.port",
  errorType: "error.type",
} as const;

export const tenonAttributes = {
  runId: "tenon.run.id",
  stepName: "tenon.step.name",
  stepAttempt: "tenon.step.attempt",
  integration: "tenon.integration",
  connection: "tenon.connection",
  eventId: "tenon.event.id",
  eventSource: "tenon.event.source",
} as const;

/**
 * The active trace context as text to store with an event (the propagator's headers as JSON: `traceparent`,
 * and `tracestate` when there is one); undefined when nothing is being traced.
 */
export function captureTraceContext(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : undefined;
}

/** The context stored with an event, to continue its trace; the root context when there is none or it is unreadable. */
export function restoreTraceContext(stored: string | null): Context {
  if (stored === null) return ROOT_CONTEXT;
  try {
    return propagation.extract(ROOT_CONTEXT, JSON.parse(stored));
  } catch {
    // A damaged value costs the run its link to the request, nothing more.
    return ROOT_CONTEXT;
  }
}

/** A span with the context in which it is the active one, for its children. */
export interface ActiveSpan {
  span: Span;
  context: Context;
}

/** The SERVER span of an incoming request, a child of the caller's `traceparent` if it sent one. */
export function startServerSpan(request: {
  method: string;
  path: string;
  scheme: string;
  headers: Record<string, unknown>;
}): ActiveSpan {
  const tracer = activeTracer();
  if (tracer === undefined) return untraced;
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  const span = tracer.startSpan(
    request.method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        [httpAttributes.method]: request.method,
        [httpAttributes.urlPath]: request.path,
        [httpAttributes.urlScheme]: request.scheme,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Names the SERVER span after its route (`POST /hooks/:source`), which is known once the request was routed. */
export function setServerRoute(span: Span, method: string, route: string): void {
  span.updateName(`${method} ${route}`);
  span.setAttribute(httpAttributes.route, route);
}

export function endServerSpan(span: Span, statusCode: number): void {
  span.setAttribute(httpAttributes.statusCode, statusCode);
  // A 4xx is the caller's error, not the server's (semantic conventions): only a 5xx marks the span as failed.
  if (statusCode >= 500) {
    span.setAttribute(httpAttributes.errorType, String(statusCode));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** The `tenon.run` span of one execution of a run, a child of the request that brought its event in. */
export function startRunSpan(run: {
  id: string;
  integrationId: string;
  event: { id: string; source: string; traceContext: string | null };
}): ActiveSpan {
  const tracer = activeTracer();
  if (tracer === undefined) return untraced;
  const parent = restoreTraceContext(run.event.traceContext);
  const span = tracer.startSpan(
    "tenon.run",
    {
      kind: SpanKind.INTERNAL,
      attributes: {
        [tenonAttributes.runId]: run.id,
        [tenonAttributes.integration]: run.integrationId,
        [tenonAttributes.eventId]: run.event.id,
        [tenonAttributes.eventSource]: run.event.source,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** The `tenon.step` span of one attempt of a step, a child of the run's span. */
export function startStepSpan(
  runSpan: ActiveSpan,
  step: { runId: string; integrationId: string; name: string; attempt: number },
): ActiveSpan {
  const tracer = activeTracer();
  if (tracer === undefined) return untraced;
  const span = tracer.startSpan(
    "tenon.step",
    {
      kind: SpanKind.INTERNAL,
      attributes: {
        [tenonAttributes.runId]: step.runId,
        [tenonAttributes.integration]: step.integrationId,
        [tenonAttributes.stepName]: step.name,
        [tenonAttributes.stepAttempt]: step.attempt,
      },
    },
    runSpan.context,
  );
  return { span, context: trace.setSpan(runSpan.context, span) };
}

/** Ends a run or step span; an error marks it failed first. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) markFailed(span, error);
  span.end();
}

/**
 * Marks a span failed, with the error's type and message: the message the run's history stores too, whose
 * outbound parts the connection client has already redacted.
 */
export function markFailed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const failure = error instanceof Error ? error : new Error(String(error));
  span.setAttribute(httpAttributes.errorType, failure.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
}

/** The CLIENT span of one outbound request (each resend is a span of its own), a child of the active step. */
export function startClientSpan(method: string, urlTemplate: string | undefined): Span {
  const tracer = activeTracer();
  if (tracer === undefined) return untraced.span;
  return tracer.startSpan(urlTemplate === undefined ? method : `${method} ${urlTemplate}`, {
    kind: SpanKind.CLIENT,
  });
}

/** Adds `traceparent` (and `tracestate`) of `span` to an outbound request's headers. */
export function injectTraceContext(span: Span, headers: Record<string, string>): void {
  if (!span.isRecording()) return;
  propagation.inject(trace.setSpan(context.active(), span), headers);
}

/** Ends a CLIENT span with the response's status, or the error's type when there was none. */
export function endClientSpan(span: Span, outcome: { status: number } | { errorType: string }): void {
  if (!span.isRecording()) return;
  if ("status" in outcome) {
    span.setAttribute(httpAttributes.statusCode, outcome.status);
    // For a client, every 4xx and 5xx is an error (semantic conventions); error.type is the status code.
    if (outcome.status >= 400) {
      span.setAttribute(httpAttributes.errorType, String(outcome.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  } else {
    span.setAttribute(httpAttributes.errorType, outcome.errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** Runs `fn` with `active` as the current context (a no-op without an SDK's context manager). */
export function withSpan<T>(active: ActiveSpan, fn: () => T): T {
  return active === untraced ? fn() : context.with(active.context, fn);
}

/** The trace and span ids of the active span, for log lines; undefined when nothing is being traced. */
export function activeSpanIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

export type { Span };
