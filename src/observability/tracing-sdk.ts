import { context, propagation, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace-node";
import type { TracingSettings } from "../config/settings.ts";

/** The OpenTelemetry SDK of this process, started by `startTracingSdk`. */
export interface TracingSdk {
  /** Exports the spans ended so far. */
  flush(): Promise<void>;
  /** Exports the spans still buffered, then unregisters: the API is a no-op again. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK for traces (not `@opentelemetry/sdk-node`, which brings the gRPC exporters
 * along): a NodeTracerProvider whose spans go in batches to the OTLP/HTTP (JSON) exporter, registered with
 * the AsyncLocalStorage context manager and the W3C trace-context and baggage propagators. Tenon's spans
 * (observability/tracing.ts) then record instead of being no-ops.
 *
 * The exporter reads its own variables (OTEL_EXPORTER_OTLP_ENDPOINT, plus `/v1/traces`, or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is; OTEL_EXPORTER_OTLP_HEADERS, …_TIMEOUT, …_COMPRESSION), as every
 * OpenTelemetry exporter does; `settings` decides whether it starts at all and names the service.
 */
export function startTracingSdk(
  settings: TracingSettings,
  exporter: SpanExporter = new OTLPTraceExporter(),
): TracingSdk {
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": settings.serviceName })),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}
