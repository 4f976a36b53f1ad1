import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { OperatorStore } from "../storage/operator-store.ts";
import { type ActiveSession, csrfTokenMatches, type DashboardSessions, type NewSession } from "./dashboard-sessions.ts";
import { acceptsHtml, sendHtmlPage } from "./html-page.ts";
import { sendError } from "./http-errors.ts";
import { isLocalPath } from "./local-path.ts";
import { clearSessionCookie, csrfRefused, sessionIdOf, setSessionCookie } from "./session-cookie.ts";
import type { SignInLimiter } from "./sign-in-limiter.ts";

export interface SessionRoutesOptions {
  sessions: DashboardSessions;
  limiter: SignInLimiter;
  /** Where sign-ins and sign-outs are written, as mutating API calls are. */
  operatorLog: OperatorStore;
  logger: Logger;
  /** TENON_PUBLIC_URL: when it is https, the cookie is Secure even if a proxy speaks plain HTTP to Tenon. */
  publicUrl: string | undefined;
  now: () => number;
}

/** A token is a few dozen characters; anything this long is not one, and is not hashed or looked up. */
const maxTokenLength = 1024;

/**
 * Dashboard sign-in: `/auth/session` (sign in with an API token, read the session, sign out) and `/auth/link` (a
 * one-time link). A session lives in an httpOnly, SameSite=Strict cookie; the page learns who it is and its CSRF
 * token from `GET /auth/session`. Every answer is `no-store`: none holds anything a cache should keep. Failed
 * sign-ins are counted per address and slowed down (sign-in-limiter.ts).
 */
export function registerSessionRoutes(app: FastifyInstance, options: SessionRoutesOptions): void {
  const { sessions, limiter, logger } = options;

  app.post("/auth/session", async (request, reply) => {
    noStore(reply);
    if (tooManyFailures(request, reply, limiter)) return reply;
    const token = readToken(request.body, request.headers["content-type"]);
    if (typeof token !== "string") return sendError(reply, 400, "invalid_sign_in", token.problem);
    let session: NewSession | null;
    try {
      session = await sessions.signInWithToken(token);
    } catch (error) {
      return storageUnavailable(reply, logger, error);
    }
    if (!session) {
      limiter.recordFailure(request.ip);
      return sendError(
        reply,
        401,
        "invalid_token",
        "this API token is unknown or revoked: check it, or ask an admin for one (`tenon tokens create --role viewer --name <name>`)",
      );
    }
    setSessionCookie(request, reply, session, options.publicUrl);
    await logSessionAction(options, request, session, "POST /auth/session", 200, "signed in with an API token");
    return describe(session);
  });

  app.get("/auth/session", async (request, reply) => {
    noStore(reply);
    let session: ActiveSession | null;
    try {
      session = await sessions.authenticate(sessionIdOf(request));
    } catch (error) {
      return storageUnavailable(reply, logger, error);
    }
    if (!session) return noSession(reply);
    return describe(session);
  });

  app.delete("/auth/session", async (request, reply) => {
    noStore(reply);
    const id = sessionIdOf(request);
    let session: ActiveSession | null;
    try {
      session = await sessions.authenticate(id);
    } catch (error) {
      return storageUnavailable(reply, logger, error);
    }
    if (!session || id === undefined) {
      clearSessionCookie(reply);
      return noSession(reply);
    }
    if (!csrfTokenMatches(session, request.headers["x-csrf-token"])) return csrfRefused(reply);
    try {
      await sessions.signOut(id);
    } catch (error) {
      return storageUnavailable(reply, logger, error);
    }
    clearSessionCookie(reply);
    reply.code(204);
    await logSessionAction(options, request, session, "DELETE /auth/session", 204, "signed out");
    return reply.send();
  });

  // No HEAD twin: a client checking that the link exists must not use it up.
  app.get<{ Querystring: { code?: string; next?: string } }>(
    "/auth/link",
    { exposeHeadRoute: false },
    async (request, reply) => {
      noStore(reply);
      // The URL holds the code: the page this leads to must not pass it on as a Referer.
      reply.header("referrer-policy", "no-referrer");
      if (tooManyFailures(request, reply, limiter)) return reply;
      const { code, next } = request.query;
      // Checked before the code is used up, so a link with a bad `next` still works once it is fixed.
      if (next !== undefined && !isLocalPath(next)) {
        return sendError(
          reply,
          400,
          "invalid_next",
          "next must be a path on this server starting with a single / (such as /runs), not a URL",
        );
      }
      let session: NewSession | null;
      try {
        session = typeof code === "string" ? await sessions.signInWithLink(code) : null;
      } catch (error) {
        return storageUnavailable(reply, logger, error);
      }
      if (!session) {
        limiter.recordFailure(request.ip);
        return linkRefused(request, reply);
      }
      setSessionCookie(request, reply, session, options.publicUrl);
      await logSessionAction(options, request, session, "GET /auth/link", 303, "signed in with a one-time link");
      return reply.redirect(next ?? "/", 303);
    },
  );
}

/** What the page needs to know of its session: who, with which role, its CSRF token and when it ends if unused. */
function describe(session: ActiveSession) {
  return {
    name: session.principal.name,
    role: session.principal.role,
    csrfToken: session.csrfToken,
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

/** The token from a JSON body `{ "token": "…" }`, or what is wrong with the request. */
function readToken(body: unknown, contentType: string | undefined): string | { problem: string } {
  const usage = 'send JSON {"token": "<API token>"} with Content-Type: application/json';
  // Only JSON: a form post from another site's page could sign a browser in as someone else; a JSON one needs CORS.
  if (!/^application\/json\s*(;|$)/i.test(contentType ?? "") || !Buffer.isBuffer(body)) return { problem: usage };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return { problem: `the body is not valid JSON; ${usage}` };
  }
  const token = (parsed as { token?: unknown } | null)?.token;
  if (typeof token !== "string" || token.trim() === "" || token.length > maxTokenLength) {
    return { problem: `"token" is missing or not an API token; ${usage}` };
  }
  return token.trim();
}

function tooManyFailures(request: FastifyRequest, reply: FastifyReply, limiter: SignInLimiter): boolean {
  const wait = limiter.waitSeconds(request.ip);
  if (wait === 0) return false;
  reply.header("retry-after", String(wait));
  sendError(reply, 429, "too_many_sign_ins", `too many failed sign-ins from this address; try again in ${wait} s`);
  return true;
}

function linkRefused(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const what = "This sign-in link is unknown, used or expired: a link works once, within 10 minutes of being made.";
  const todo =
    "Ask for a new one: run `tenon dashboard-link` where Tenon runs (with its TENON_DATABASE_URL or TENON_SQLITE_PATH), or sign in with an API token at /.";
  if (acceptsHtml(request.headers.accept))
    return sendHtmlPage(reply, 401, "This sign-in link does not work", [what, todo]);
  return sendError(reply, 401, "invalid_link", `${what} ${todo}`);
}

function noSession(reply: FastifyReply): FastifyReply {
  return sendError(
    reply,
    401,
    "no_session",
    "not signed in, or the session ended (signed out, unused for 12 h, older than 7 days, or its API token revoked): sign in again",
  );
}

function storageUnavailable(reply: FastifyReply, logger: Logger, error: unknown): FastifyReply {
  logger.error({ err: (error as Error).message }, "a dashboard session could not be checked or stored");
  reply.header("retry-after", "5");
  return sendError(reply, 503, "storage_unavailable", "the session could not be checked or stored; retry after 5 s");
}

async function logSessionAction(
  options: SessionRoutesOptions,
  request: FastifyRequest,
  session: ActiveSession,
  action: string,
  status: number,
  detail: string,
): Promise<void> {
  try {
    await options.operatorLog.recordOperatorAction({
      at: options.now(),
      actor: session.principal.name,
      role: session.principal.role,
      via: "api",
      action,
      target: null,
      status,
      ip: request.ip,
      detail,
    });
  } catch (error) {
    options.logger.error(
      { err: (error as Error).message, actor: session.principal.name },
      "the operator log could not record a dashboard sign-in or sign-out",
    );
  }
}

function noStore(reply: FastifyReply): void {
  reply.header("cache-control", "no-store");
}
