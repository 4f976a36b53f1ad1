import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from "fastify";
import { type ActiveSpan, endServerSpan, setServerRoute, startServerSpan, withSpan } from "./tracing.ts";

/**
 * A SERVER span for every request the server answers, continuing the caller's `traceparent`, and active
 * while the route's handler runs: an event the handler stores keeps that context (engine.send), so the
 * event's runs join the request's trace. Register it before the routes: it wraps each route's handler.
 */
export function traceRequests(app: FastifyInstance): void {
  // Only spans that record are kept: without an SDK, a request costs a no-op span and a failed lookup.
  const spans = new WeakMap<FastifyRequest, ActiveSpan>();

  app.addHook("onRoute", (route) => {
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function tracedHandler(this: FastifyInstance, request, reply) {
      const active = spans.get(request);
      return active === undefined
        ? handler.call(this, request, reply)
        : withSpan(active, () => handler.call(this, request, reply));
    };
  });

  app.addHook("onRequest", (request, _reply, done) => {
    const active = startServerSpan({
      method: request.method,
      path: request.url.split("?")[0] ?? "/",
      scheme: request.protocol,
      headers: request.headers,
    });
    if (active.span.isRecording()) {
      const route = request.routeOptions.url;
      if (route !== undefined && !request.is404) setServerRoute(active.span, request.method, route);
      spans.set(request, active);
    }
    done();
  });

  app.addHook("onResponse", (request, reply, done) => {
    const active = spans.get(request);
    if (active !== undefined) endServerSpan(active.span, reply.statusCode);
    done();
  });

  // The caller hung up before the answer: the span still ends, without a status code.
  app.addHook("onRequestAbort", (request, done) => {
    spans.get(request)?.span.end();
    done();
  });
}
