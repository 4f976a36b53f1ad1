import type { AuthConfig, ConnectionConfig, ConnectionCredentials } from "../../connections/connection-config.ts";
import { defineConnector, defineOperation, ResponseShapeError } from "../define-connector.ts";
import { getJsonInput, jsonDocument, requestInput, responseOutput } from "./schemas.ts";

export * from "./schemas.ts";

export interface HttpOptions {
  baseUrl: string;
  /** Default none. */
  auth?: AuthConfig;
  credentials?: ConnectionCredentials;
  /** The API's documented limit: `"10/s"`, `"100 per 10s"`; default none. */
  rateLimit?: string | false;
  /**
   * The header the API honours for idempotent writes, or false if it has none. Default "Idempotency-Key"
   * (the step's key, the same on every retry); an API that ignores it gets no protection from it.
   */
  idempotencyHeader?: string | false;
  /** Sent with every request (API version pins, `Accept`). */
  headers?: Record<string, string>;
}

/**
 * Any JSON API, through a connection with the same guarantees as the built-in connectors (credentials
 * from the vault, shared rate limit, retries classified, audit trail). The starting point for a system
 * without a connector: once its calls settle, give them typed operations in a folder of their own.
 */
export const http = defineConnector({
  id: "http",
  title: "Generic HTTP (JSON API)",
  apiVersion: "any",
  connection: (options: HttpOptions): ConnectionConfig => ({
    baseUrl: options.baseUrl,
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
    ...(options.idempotencyHeader !== undefined ? { idempotencyHeader: options.idempotencyHeader } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  }),
  operations: {
    request: defineOperation({
      description: "Sends one request; 2xx and 3xx answers are returned, errors are classified for retry",
      input: requestInput,
      output: responseOutput,
      idempotency: "header",
      async call(client, input) {
        const response = await client.request({
          method: input.method,
          path: input.path,
          ...(input.query ? { query: input.query } : {}),
          ...(input.headers ? { headers: input.headers } : {}),
          ...(input.json !== undefined ? { json: input.json } : {}),
          ...(input.form ? { form: input.form } : {}),
        });
        return { status: response.status, headers: response.headers, body: response.body };
      },
    }),
    getJson: defineOperation({
      description: "GETs a JSON document",
      input: getJsonInput,
      output: jsonDocument,
      idempotency: "read",
      async call(client, input) {
        const response = await client.get(input.path, input.query ? { query: input.query } : {});
        const type = response.headers["content-type"] ?? "(none)";
        if (!/[/+]json\b/i.test(type)) {
          throw new ResponseShapeError(`http.getJson: GET ${input.path} answered ${type}, not JSON`);
        }
        return response.body;
      },
    }),
  },
});
