import { z } from "zod";

const queryValue = z.union([z.string(), z.number(), z.boolean()]);

export const requestInput = z
  .object({
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    /** Resolved against the connection's base URL (`/v1/things`). */
    path: z.string().min(1),
    query: z.record(z.string(), queryValue).optional(),
    /** Sent as `application/json`. */
    json: z.unknown().optional(),
    /** Sent as `application/x-www-form-urlencoded`. */
    form: z.record(z.string(), queryValue).optional(),
    headers: z.record(z.string(), z.string()).optional(),
  })
  .refine((input) => input.json === undefined || input.form === undefined, {
    message: "give json or form, not both",
  });

export type RequestInput = z.input<typeof requestInput>;

export const responseOutput = z.object({
  status: z.number(),
  /** Lower-case names. */
  headers: z.record(z.string(), z.string()),
  /** Parsed JSON when the API says it is JSON, otherwise the text. */
  body: z.unknown(),
});

export type HttpResult = z.output<typeof responseOutput>;

export const getJsonInput = z.object({
  path: z.string().min(1),
  query: z.record(z.string(), queryValue).optional(),
});

/** Any JSON document except a bare string (a body that was not JSON arrives as text). */
export const jsonDocument = z.union([
  z.record(z.string(), z.unknown()),
  z.array(z.unknown()),
  z.number(),
  z.boolean(),
  z.null(),
]);
