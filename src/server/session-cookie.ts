import { parse, serialize } from "cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type NewSession, sessionCookieName, sessionLifetimeMs } from "./dashboard-sessions.ts";
import { sendError } from "./http-errors.ts";

/**
 * The session id the request's Cookie header carries, if any. The header is parsed only where a session is read
 * (the API's access check, /auth), not for every request: webhooks carry none.
 */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  return header === undefined ? undefined : parse(header)[sessionCookieName];
}

/**
 * The session cookie. HttpOnly: the page's scripts (and anything injected into them) never see it.
 * SameSite=Strict: another site's page can make the browser send requests here, but not with the cookie.
 * Secure when the browser reached Tenon over https (directly, or as TENON_PUBLIC_URL says). It lasts as long as
 * the session can; Tenon ends it sooner if unused.
 */
export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  session: NewSession,
  publicUrl: string | undefined,
): void {
  // A new session's whole life: relative, so a browser whose clock is off keeps it as long.
  reply.header(
    "set-cookie",
    serialize(sessionCookieName, session.id, {
      httpOnly: true,
      sameSite: "strict",
      path: "/",
      secure: request.protocol === "https" || publicUrl?.startsWith("https:") === true,
      maxAge: sessionLifetimeMs / 1000,
    }),
  );
}

export function clearSessionCookie(reply: FastifyReply): void {
  // Expired at once: the browser drops it.
  reply.header(
    "set-cookie",
    serialize(sessionCookieName, "", {
      maxAge: 0,
      path: "/",
      httpOnly: true,
      sameSite: "strict",
      expires: new Date(0),
    }),
  );
}

/** The answer to a call made with the cookie that changes something without the session's CSRF token. */
export function csrfRefused(reply: FastifyReply): FastifyReply {
  return sendError(
    reply,
    403,
    "csrf",
    "a call made with the dashboard's session cookie that changes something must send the header x-csrf-token with the session's csrfToken (from GET /auth/session)",
  );
}
