import type { FastifyReply } from "fastify";

/**
 * Every error answer has the same shape, `{ error, message }`: a stable code
 * for machines and a sentence for people that says what to do.
 */
export interface ErrorBody {
  error: string;
  message: string;
}

export function sendError(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).send({ error, message } satisfies ErrorBody);
}

/** Storage did not commit: nothing was stored, so the sender must retry (providers do, on a 5xx). */
export function sendStorageUnavailable(reply: FastifyReply, retryAfterSec: number): FastifyReply {
  reply.header("retry-after", String(retryAfterSec));
  return sendError(
    reply,
    503,
    "storage_unavailable",
    `the event could not be stored, so it was not accepted; retry after ${retryAfterSec} s`,
  );
}

/** Fastify's own request errors (body parsing, limits), mapped to our codes. */
export function describeFrameworkError(error: { code?: string; statusCode?: number; message: string }): {
  status: number;
  body: ErrorBody;
} | null {
  const status = error.statusCode ?? 500;
  if (status >= 500) return null;
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, body: { error: "body_too_large", message: "the request body is larger than the limit" } };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return {
        status: 415,
        body: {
          error: "unsupported_content_type",
          message: "send application/json (or application/x-www-form-urlencoded, for providers that post forms)",
        },
      };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return { status: 400, body: { error: "empty_body", message: "the request body is empty" } };
    default:
      return { status, body: { error: "bad_request", message: error.message } };
  }
}
