import type { FastifyReply, FastifyRequest } from "fastify";

/** The roles an API caller can hold; read routes need `viewer`. */
export type ApiRole = "viewer" | "operator" | "admin";

/** An `onRequest` check: it answers (401/403) when the caller may not go on, and returns nothing when it may. */
export type AccessCheck = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * What a route's caller must pass, by the role the route needs. Routes take it as an option instead of building
 * the check themselves, so how callers are authorised (one set of tokens today, tokens with roles next) is
 * decided in one place, `create-server.ts`.
 */
export type ApiAccess = (role: ApiRole) => AccessCheck;
