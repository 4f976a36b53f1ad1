import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { TenonMetrics } from "../observability/metrics.ts";
import { ApiTokens } from "./api-tokens.ts";
import { sendError } from "./http-errors.ts";

export interface MetricsRouteOptions {
  metrics: TenonMetrics;
  /** TENON_METRICS_TOKEN: the scraper must send `Authorization: Bearer <token>`; undefined leaves /metrics open. */
  token: string | undefined;
  logger: Logger;
}

/**
 * `GET /metrics`: the Prometheus text format. The token, when set, is compared in constant time like the API's;
 * its value never appears in an answer or a log. A scrape whose storage reads fail answers 503 (Prometheus marks
 * the target down) rather than serving gauges it could not read.
 */
export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  const { metrics, logger } = options;
  const tokens = options.token === undefined ? undefined : new ApiTokens([options.token]);
  app.get("/metrics", async (request, reply) => {
    if (tokens && !(await tokens.authenticate(request.headers.authorization))) {
      reply.header("www-authenticate", 'Bearer realm="tenon metrics"');
      return sendError(reply, 401, "unauthorized", "send Authorization: Bearer <token> with the TENON_METRICS_TOKEN");
    }
    let text: string;
    try {
      text = await metrics.registry.metrics();
    } catch (error) {
      logger.error({ err: (error as Error).message }, "collecting metrics failed");
      return sendError(reply, 503, "metrics_unavailable", `reading the metrics failed: ${(error as Error).message}`);
    }
    return reply.code(200).type(metrics.registry.contentType).send(text);
  });
}

export interface MetricsServer {
  /** Listens on host:port; resolves with the address (port 0 picks a free port). */
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<void>;
}

/** `/metrics` alone on a port of its own (TENON_METRICS_PORT), e.g. reachable only from the monitoring network. */
export function createMetricsServer(options: MetricsRouteOptions): MetricsServer {
  const app = Fastify({ logger: false, return503OnClosing: true });
  registerMetricsRoute(app, options);
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      404,
      "not_found",
      `no route ${request.method} ${request.url.split("?")[0]}; this port serves GET /metrics`,
    ),
  );
  return {
    listen: ({ host, port }) => app.listen({ host, port }),
    close: () => app.close(),
  };
}
