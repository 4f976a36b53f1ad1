import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { OAuthRejectedError } from "../connections/auth/oauth2.ts";
import type { Connections } from "../connections/connections.ts";
import {
  ConfigurationError,
  MissingCredentialError,
  NonRetryableError,
  RetryableError,
  ValidationError,
} from "../sdk/errors.ts";
import { sendError } from "./http-errors.ts";
import { isLocalPath } from "./local-path.ts";

export interface OAuthRoutesOptions {
  connections: Connections;
  logger: Logger;
  /** The base URL the provider redirects to; without it, the callback URL is rebuilt from the request. */
  publicUrl: string | undefined;
}

/**
 * The OAuth authorization-code flow as a person's browser walks it: `/oauth/<connection>/start` sends
 * them to the provider, the provider sends them back to `/oauth/callback`. No API token guards these
 * (a browser carries none): the single-use `state`, bound to a PKCE verifier kept server side, is what
 * ties a callback to an authorisation Tenon started. No answer ever repeats a code, token or secret.
 */
export function registerOAuthRoutes(app: FastifyInstance, options: OAuthRoutesOptions): void {
  const { connections, logger } = options;

  app.get<{ Params: { connection: string }; Querystring: { return_to?: string } }>(
    "/oauth/:connection/start",
    async (request, reply) => {
      noStore(reply);
      const name = request.params.connection;
      if (!connections.names.includes(name)) {
        return sendError(reply, 404, "unknown_connection", `no connection "${name}" is configured`);
      }
      const returnTo = request.query.return_to;
      if (returnTo !== undefined && !isLocalPath(returnTo)) {
        return sendError(
          reply,
          400,
          "invalid_return_to",
          "return_to must be a path on this server starting with a single / (such as /done), not a URL",
        );
      }
      let providerUrl: string;
      try {
        providerUrl = await connections.startAuthorization(name, returnTo ?? null);
      } catch (error) {
        if (error instanceof ValidationError) return sendError(reply, 400, "not_authorizable", error.message);
        if (error instanceof ConfigurationError || error instanceof MissingCredentialError) {
          return sendError(reply, 500, "oauth_not_configured", error.message);
        }
        throw error;
      }
      return reply.redirect(providerUrl, 302);
    },
  );

  app.get("/oauth/callback", async (request, reply) => {
    noStore(reply);
    // The URL carries the authorization code: keep it out of the Referer of wherever the person goes next.
    reply.header("referrer-policy", "no-referrer");
    let result: Awaited<ReturnType<Connections["completeAuthorization"]>>;
    try {
      result = await connections.completeAuthorization(
        new URL(request.url, options.publicUrl ?? requestOrigin(request)),
      );
    } catch (error) {
      if (error instanceof ValidationError) return sendError(reply, 400, "invalid_authorization", error.message);
      if (error instanceof OAuthRejectedError) return sendError(reply, 400, "authorization_refused", error.message);
      if (error instanceof NonRetryableError) return sendError(reply, 400, "invalid_callback", error.message);
      if (error instanceof RetryableError) {
        // The state was used up before the exchange, so this callback cannot be retried: the person starts over.
        logger.warn({ err: error.message }, "an OAuth code exchange failed; the person must start again");
        return sendError(
          reply,
          502,
          "token_endpoint_unavailable",
          `${error.message.replace(/; it will be retried.*$/, "")}. Nothing was stored: try again by starting the authorisation anew`,
        );
      }
      if (error instanceof ConfigurationError || error instanceof MissingCredentialError) {
        return sendError(reply, 500, "oauth_not_configured", error.message);
      }
      throw error;
    }
    const { connectionId, returnTo, resumedRuns } = result;
    logger.info({ connection: connectionId, resumedRuns }, "connection authorised");
    // Checked when the authorisation started, and again here: stored data is not trusted to be a local path.
    if (returnTo !== null && isLocalPath(returnTo)) return reply.redirect(returnTo, 302);
    const runs = resumedRuns === 1 ? "1 paused run" : `${resumedRuns} paused runs`;
    return reply
      .code(200)
      .type("text/plain; charset=utf-8")
      .send(`Connection ${connectionId} is authorised; ${runs} resumed. You can close this page.\n`);
  });
}

function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

function noStore(reply: FastifyReply): void {
  reply.header("cache-control", "no-store");
}
