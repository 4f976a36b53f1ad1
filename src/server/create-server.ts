import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { EnvApiToken } from "../config/settings.ts";
import type { Connections } from "../connections/connections.ts";
import type { EventObserver } from "../drift/drift-learner.ts";
import type { Engine } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { RecentRejections } from "../observability/recent-rejections.ts";
import { traceRequests } from "../observability/request-tracing.ts";
import type { Subscriber } from "../operational-webhooks/operational-webhooks-config.ts";
import { BulkActions } from "../replay/bulk-actions.ts";
import type { Integration } from "../sdk/define-integration.ts";
import { registerAlertRoutes } from "./alert-routes.ts";
import { registerApiAccess } from "./api-access.ts";
import { ApiTokens } from "./api-tokens.ts";
import { registerBulkActionRoutes } from "./bulk-action-routes.ts";
import { registerConnectionsRoutes } from "./connections-routes.ts";
import { defaultDashboardDirectory, registerDashboard } from "./dashboard-routes.ts";
import { DashboardSessions } from "./dashboard-sessions.ts";
import { registerDriftRoutes } from "./drift-routes.ts";
import { registerEventsRoute } from "./events-route.ts";
import { registerHealthApiRoute } from "./health-api-route.ts";
import { registerHealthRoutes } from "./health-routes.ts";
import { registerHooksRoute } from "./hooks-route.ts";
import { describeFrameworkError, sendError } from "./http-errors.ts";
import { defaultHttpLimits, type HttpLimits, nodeTimeouts } from "./http-limits.ts";
import { registerMetricsRoute } from "./metrics-route.ts";
import { registerOAuthRoutes } from "./oauth-routes.ts";
import { registerOperationalWebhookRoutes } from "./operational-webhook-routes.ts";
import { registerOperatorLogRoute } from "./operator-log-route.ts";
import { registerReadApiRoutes } from "./read-api-routes.ts";
import { registerReconciliationRoutes } from "./reconciliation-routes.ts";
import { registerReplayRoutes } from "./replay-routes.ts";
import { registerSearchRoute } from "./search-route.ts";
import { registerSessionRoutes } from "./session-routes.ts";
import { SignInLimiter } from "./sign-in-limiter.ts";
import { registerStatsRoute } from "./stats-route.ts";

export interface ServerOptions {
  engine: Engine;
  logger: Logger;
  webhookSources?: ReadonlyMap<string, WebhookSource>;
  /**
   * Configured bearer tokens for `/api/*` (a bare string is an admin token); with none and no token made by
   * `tenon tokens create`, the API answers 401 "disabled".
   */
  apiTokens?: readonly (string | EnvApiToken)[];
  /** How long a stored token's lookup is reused (revocation takes this long at most). Default 5 s. */
  apiTokenCacheMs?: number;
  /** Largest accepted request body in bytes. Default 1 MiB. */
  bodyLimit?: number;
  /** The public base URL providers call, e.g. `https://hooks.example.com` (signed-URL schemes need it behind a proxy). */
  publicUrl?: string;
  /** The configured connections: their OAuth flow (`/oauth/*`) and their API (`/api/connections`, `/api/audit`). */
  connections?: Connections;
  /** Sources an API caller may not claim (poll sources, "schedule"); webhook sources are added. */
  reservedSources?: Iterable<string>;
  /** The configured integrations and polls: `GET /api/health` reports on each (and on each cron schedule). */
  integrations?: readonly Pick<Integration, "id" | "trigger">[];
  polls?: readonly { id: string; everyMs: number }[];
  /** Timeouts and the connection cap; each one left out keeps its default (`defaultHttpLimits`). */
  httpLimits?: Partial<HttpLimits>;
  /**
   * `GET /metrics` (the engine's metrics) on this server, behind a bearer token if one is given; false when it is
   * served on a port of its own or metrics are off. Default: served, no token, if the engine's metrics are on.
   */
  metricsRoute?: { token: string | undefined } | false;
  /** Sees each new webhook event's payload: the drift learner's `observeEvent`. */
  observeEvent?: EventObserver;
  /** The configured operational webhook subscribers: `/api/operational-webhooks` lists and enables them. */
  operationalWebhooks?: readonly Subscriber[];
  /**
   * How long a bulk replay job stays this process's without a heartbeat: a job whose process died reads
   * `interrupted` this long after its last one, at most. Default 30 s.
   */
  bulkActionLeaseMs?: number;
  /** The built dashboard served at `/` (index.html and assets/). Default: the package's dist/dashboard/. */
  dashboardDirectory?: string;
  now?: () => number;
}

export interface TenonServer {
  readonly app: FastifyInstance;
  /** Listens on host:port; resolves with the address (port 0 picks a free port). */
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<void>;
}

export const defaultBodyLimit = 1024 * 1024;

/**
 * Tenon's routes declare no JSON schemas: bodies are kept as raw bytes (signatures are computed over them) and
 * checked by Tenon's own code. Left to itself, Fastify loads ajv and fast-json-stringify for schemas anyway, about
 * 30 ms of every start; a route that declares one fails here, when it is registered.
 */
const noSchemaCompilers = {
  buildValidator(): never {
    throw new Error("Tenon's server compiles no JSON schemas: check the request in the handler");
  },
  buildSerializer(): never {
    throw new Error("Tenon's server compiles no JSON schemas: shape the reply in the handler");
  },
};

/**
 * The engine's HTTP face: webhooks in, API events in, connections managed and
 * authorised. Every body is read as raw bytes (signatures are computed over
 * them), only JSON and form posts are accepted (415 otherwise), and every
 * failure answers `{ error, message }` with a precise 4xx; a 5xx means storage
 * could not commit (503, with Retry-After), or, on the OAuth callback, that the
 * provider's token endpoint failed (502).
 */
export function createServer(options: ServerOptions): TenonServer {
  const bodyLimit = options.bodyLimit ?? defaultBodyLimit;
  const sources = options.webhookSources ?? new Map<string, WebhookSource>();
  const now = options.now ?? Date.now;
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");
  const tokens = new ApiTokens(options.apiTokens ?? [], {
    store: options.engine.storage.operatorAccess,
    now,
    ...(options.apiTokenCacheMs === undefined ? {} : { cacheMs: options.apiTokenCacheMs }),
    onTouchError: (error) =>
      options.logger.warn({ err: error.message }, "an API token's last use could not be recorded"),
  });
  const sessions = new DashboardSessions({
    store: options.engine.storage.sessions,
    tokens,
    now,
    onTouchError: (error) =>
      options.logger.warn({ err: error.message }, "a dashboard session's last use could not be recorded"),
  });
  const limits = { ...defaultHttpLimits, ...options.httpLimits };
  const timeouts = nodeTimeouts(limits);
  const app = Fastify({
    logger: false,
    bodyLimit,
    // Fastify sets the server's request and keep-alive timeouts itself (its defaults: none, and 72 s); the headers
    // timeout and the sweep that enforces both can only be given to Node when the server is created.
    http: timeouts,
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    return503OnClosing: true,
    schemaController: { compilersFactory: noSchemaCompilers },
  });

  app.server.maxConnections = limits.maxConnections;
  // Before the routes and the other hooks: it wraps every route's handler, and a 404 is a request too.
  traceRequests(app);

  app.removeAllContentTypeParsers();
  const keepRaw = (_request: unknown, body: Buffer, done: (error: null, body: Buffer) => void) => done(null, body);
  // Fastify tests the regex against the whole header, parameters included (`application/json; charset=utf-8`).
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json\s*(;|$)/i, { parseAs: "buffer" }, keepRaw);
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "buffer" }, keepRaw);

  app.setErrorHandler((error, _request, reply) => {
    const known = describeFrameworkError(error as { code?: string; statusCode?: number; message: string });
    if (known) return reply.code(known.status).send(known.body);
    options.logger.error({ err: (error as Error).message }, "request failed unexpectedly");
    return sendError(reply, 500, "internal_error", "an unexpected error occurred; nothing was stored, retry later");
  });
  // Cookies are parsed only where a session is read (sessionIdOf), not for every request: webhooks carry none.
  // Before the 404 answer: a browser asking for a page of the dashboard (/runs/abc) gets its index.html.
  registerDashboard(app, { directory: options.dashboardDirectory ?? defaultDashboardDirectory });
  // An unknown route is 404 before its body is parsed (else a wrong content type or size would answer first).
  app.addHook("onRequest", async (request, reply) => {
    if (request.is404)
      return sendError(reply, 404, "not_found", `no route ${request.method} ${request.url.split("?")[0]}`);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, "not_found", `no route ${request.method} ${request.url.split("?")[0]}`),
  );

  registerApiAccess(app, {
    tokens,
    sessions,
    store: options.engine.storage.operatorAccess,
    logger: options.logger,
    now,
  });
  registerSessionRoutes(app, {
    sessions,
    limiter: new SignInLimiter(now),
    operatorLog: options.engine.storage.operatorAccess,
    logger: options.logger,
    publicUrl,
    now,
  });
  registerHealthRoutes(app, options.engine.storage);
  const metricsRoute = options.metricsRoute ?? { token: undefined };
  if (metricsRoute && options.engine.metrics.enabled) {
    registerMetricsRoute(app, { metrics: options.engine.metrics, token: metricsRoute.token, logger: options.logger });
  }
  registerReadApiRoutes(app, { storage: options.engine.storage, now });
  registerStatsRoute(app, { storage: options.engine.storage, now });
  // Rejected webhooks by source and check so far, for health's last hour: kept whether or not metrics are on.
  const rejected: Record<string, Record<string, number>> = {};
  const rejections = new RecentRejections(() => rejected, now());
  rejections.start(now);
  app.addHook("onClose", async () => rejections.stop());
  registerHealthApiRoute(app, {
    storage: options.engine.storage,
    now,
    integrations: options.integrations ?? [],
    polls: options.polls ?? [],
    webhookSources: [...sources.keys()],
    ...(options.connections ? { connections: options.connections } : {}),
    rejections,
  });
  registerHooksRoute(app, {
    engine: options.engine,
    sources,
    onRejected: (source, check) => {
      options.engine.metrics.webhookRejected(source, check);
      const bySource = rejected[source] ?? {};
      bySource[check] = (bySource[check] ?? 0) + 1;
      rejected[source] = bySource;
    },
    logger: options.logger,
    bodyLimit,
    publicUrl,
    now,
    ...(options.observeEvent ? { observeEvent: options.observeEvent } : {}),
  });
  registerEventsRoute(app, {
    engine: options.engine,
    logger: options.logger,
    bodyLimit,
    reservedSources: new Set(["schedule", ...sources.keys(), ...(options.reservedSources ?? [])]),
  });
  registerSearchRoute(app, { storage: options.engine.storage });
  if (options.connections) {
    registerOAuthRoutes(app, { connections: options.connections, logger: options.logger, publicUrl });
    registerConnectionsRoutes(app, {
      connections: options.connections,
      logger: options.logger,
      bodyLimit,
      readApi: options.engine.storage.readApi,
      now,
    });
  }

  const bulkActions = new BulkActions({
    engine: options.engine,
    sources,
    logger: options.logger,
    ...(options.bulkActionLeaseMs === undefined ? {} : { leaseMs: options.bulkActionLeaseMs }),
  });
  // Jobs in flight stop after their page and are released (they read interrupted) before storage closes.
  app.addHook("onClose", async () => bulkActions.stop());
  registerReplayRoutes(app, { engine: options.engine, sources, bulkActions, bodyLimit });
  registerBulkActionRoutes(app, { store: options.engine.storage.bulkActions, bulkActions });
  registerOperatorLogRoute(app, options.engine.storage.operatorAccess);
  registerAlertRoutes(app, options.engine.storage.alerts);
  registerDriftRoutes(app, { store: options.engine.storage.drift, now });
  registerOperationalWebhookRoutes(app, {
    subscribers: options.operationalWebhooks ?? [],
    store: options.engine.storage.operationalWebhooks,
    now,
  });
  registerReconciliationRoutes(app, { engine: options.engine, now });

  return {
    app,
    async listen({ host, port }) {
      return app.listen({ host, port });
    },
    async close() {
      await app.close();
    },
  };
}
