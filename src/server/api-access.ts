import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { type ApiRole, apiRoles, type OperatorStore } from "../storage/operator-store.ts";
import type { ApiPrincipal, ApiTokens } from "./api-tokens.ts";
import { csrfTokenMatches, type DashboardSessions } from "./dashboard-sessions.ts";
import { sendError } from "./http-errors.ts";
import { csrfRefused, sessionIdOf } from "./session-cookie.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * The role an `/api/*` route needs. Undeclared: `viewer` for GET and HEAD, `admin` for anything else, so a
     * new mutating route is safe by default.
     */
    role?: ApiRole;
    /** false: not written to the operator log (`POST /api/events`: an event is its own record). */
    operatorLog?: boolean;
  }
  interface FastifyRequest {
    /** Who called, once the API's access check let the request through; null elsewhere. */
    apiPrincipal: ApiPrincipal | null;
    /** What a handler wants the operator log to say beyond the status (a bulk replay's counts). */
    operatorLogDetail: string | null;
    /** The id acted on when the route has no `:id` (the bulk action a replay started). */
    operatorLogTarget: string | null;
    /** Set by a handler whose call changed nothing (a bulk replay's dry run): it is not written to the operator log. */
    operatorLogSkip: boolean;
  }
}

export interface ApiAccessOptions {
  tokens: ApiTokens;
  /** The dashboard's sessions: a request without a bearer token may carry a session cookie instead. */
  sessions: DashboardSessions;
  store: OperatorStore;
  logger: Logger;
  now: () => number;
}

/**
 * The one access check of the API: every route under `/api/` (registered by anyone, now or later) needs a
 * valid bearer token (401) whose role is enough for the route (403), checked in `onRequest`, before the body
 * is read. Every mutating call that got past the token check, allowed or refused, is written to the operator
 * log before its answer is sent, so an operator who sees the answer can find it in the log.
 *
 * A request without an Authorization header may carry the dashboard's session cookie instead: its principal is
 * the session's (its token's, checked anew). A browser sends that cookie by itself, so a call that changes
 * something must also prove it comes from the dashboard's own page: the `x-csrf-token` header, which only that
 * page can read (403 `csrf`, not logged: the person whose cookie it is may not have made the call).
 */
export function registerApiAccess(app: FastifyInstance, options: ApiAccessOptions): void {
  const { tokens, sessions, store, logger } = options;
  app.decorateRequest("apiPrincipal", null);
  app.decorateRequest("operatorLogDetail", null);
  app.decorateRequest("operatorLogTarget", null);
  app.decorateRequest("operatorLogSkip", false);

  app.addHook("onRequest", async (request, reply) => {
    // Unknown routes were answered 404 already: no route is revealed, and no token is looked up for them.
    if (request.is404 || !isApiRoute(request)) return;
    const sessionId = request.headers.authorization === undefined ? sessionIdOf(request) : undefined;
    let principal: ApiPrincipal | null;
    try {
      if (sessionId !== undefined) {
        const session = await sessions.authenticate(sessionId);
        if (!session) {
          return sendError(
            reply,
            401,
            "unauthorized",
            "the dashboard session has ended (signed out, unused for 12 h, older than 7 days, or its API token revoked): sign in again",
          );
        }
        if (!isRead(request.method) && !csrfTokenMatches(session, request.headers["x-csrf-token"])) {
          return csrfRefused(reply);
        }
        principal = session.principal;
      } else {
        principal = await tokens.authenticate(request.headers.authorization);
      }
      if (!principal && !(await tokens.enabled())) {
        return sendError(
          reply,
          401,
          "api_disabled",
          "the API is disabled: set TENON_API_TOKENS, or create a token with `tenon tokens create --role <role> --name <name>`",
        );
      }
    } catch (error) {
      logger.error({ err: (error as Error).message }, "API tokens could not be looked up");
      reply.header("retry-after", "5");
      return sendError(reply, 503, "storage_unavailable", "the API token could not be checked; retry after 5 s");
    }
    if (!principal) {
      return sendError(reply, 401, "unauthorized", "send Authorization: Bearer <token> with a valid API token");
    }
    request.apiPrincipal = principal;
    const needed = requiredRole(request);
    if (!allows(principal.role, needed)) {
      return sendError(
        reply,
        403,
        "forbidden",
        `${request.method} ${request.routeOptions.url} needs the ${needed} role; this ${principal.source === "link" ? "session" : "token"} ("${principal.name}") has the ${principal.role} role`,
      );
    }
  });

  app.addHook("onSend", async (request, reply, payload) => {
    const principal = request.apiPrincipal;
    if (!principal || isRead(request.method) || request.routeOptions.config.operatorLog === false) return payload;
    if (request.operatorLogSkip) return payload;
    const params = request.params as Record<string, string> | undefined;
    try {
      await store.recordOperatorAction({
        at: options.now(),
        actor: principal.name,
        role: principal.role,
        via: "api",
        action: `${request.method} ${request.routeOptions.url}`,
        target: params?.id ?? request.operatorLogTarget,
        status: reply.statusCode,
        ip: request.ip,
        detail: request.operatorLogDetail,
      });
    } catch (error) {
      // What the call did is done; a log that cannot be written must not turn its answer into an error.
      logger.error(
        { err: (error as Error).message, actor: principal.name, route: request.routeOptions.url },
        "the operator log could not record an API call",
      );
    }
    return payload;
  });
}

/** What a route needs: its declared role, else viewer to read and admin to change anything. */
export function requiredRole(request: FastifyRequest): ApiRole {
  return request.routeOptions.config.role ?? (isRead(request.method) ? "viewer" : "admin");
}

function allows(has: ApiRole, needs: ApiRole): boolean {
  return apiRoles.indexOf(has) >= apiRoles.indexOf(needs);
}

function isApiRoute(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  return route !== undefined && (route === "/api" || route.startsWith("/api/"));
}

function isRead(method: string): boolean {
  return method === "GET" || method === "HEAD";
}
