import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { LoopbackServer } from "./loopback-server.ts";

/** A span as an OTLP/HTTP JSON export carries it, flattened: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  /** The exporting process's `service.name` (a resource attribute). */
  service: string;
  resource: Record<string, unknown>;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP's numbering: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  /** OTLP's numbering: 0 unset, 1 ok, 2 error. */
  statusCode: number;
}

export const otlpKind = { internal: 1, server: 2, client: 3 } as const;

interface KeyValue {
  key: string;
  value: Record<string, unknown>;
}

/**
 * An OpenTelemetry collector in miniature: accepts `POST /v1/traces` (OTLP/HTTP, JSON encoding, as
 * `@opentelemetry/exporter-trace-otlp-http` sends it) and keeps every span and the headers of every export.
 */
export class OtlpReceiver extends LoopbackServer {
  readonly spans: ReceivedSpan[] = [];
  readonly exportHeaders: IncomingHttpHeaders[] = [];

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of request) body += chunk;
    if (request.method !== "POST" || request.url !== "/v1/traces") {
      response.writeHead(404).end();
      return;
    }
    this.exportHeaders.push(request.headers);
    const exported = JSON.parse(body) as {
      resourceSpans: {
        resource: { attributes: KeyValue[] };
        scopeSpans: {
          spans: {
            traceId: string;
            spanId: string;
            parentSpanId?: string;
            name: string;
            kind: number;
            attributes?: KeyValue[];
            status?: { code?: number };
          }[];
        }[];
      }[];
    };
    for (const resourceSpans of exported.resourceSpans) {
      const resource = toRecord(resourceSpans.resource.attributes);
      for (const scope of resourceSpans.scopeSpans) {
        for (const span of scope.spans) {
          this.spans.push({
            service: String(resource["service.name"]),
            resource,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            attributes: toRecord(span.attributes ?? []),
            statusCode: span.status?.code ?? 0,
          });
        }
      }
    }
    response.writeHead(200, { "content-type": "application/json" }).end("{}");
  }
}

function toRecord(attributes: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(attributes.map(({ key, value }) => [key, plain(value)]));
}

function plain(value: Record<string, unknown>): unknown {
  if ("stringValue" in value) return value.stringValue;
  if ("intValue" in value) return Number(value.intValue);
  if ("doubleValue" in value) return value.doubleValue;
  if ("boolValue" in value) return value.boolValue;
  return value;
}
