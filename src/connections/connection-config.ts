import type { Duration } from "../sdk/duration.ts";
import type { Secret } from "../sdk/secret-from-env.ts";

/**
 * Credential fields by name, each a `secretFromEnv("NAME")` read when the connection first needs it
 * (or, in tests, the value itself).
 */
export type ConnectionCredentials = Record<string, Secret>;

/**
 * A connection is a named, configured instance of a connector (`crm`, `accounting`): where the
 * system is, how to authenticate, and how hard we may push it. Declared in `tenon.config.ts` under
 * `connections`; credentials come from environment references there, or are stored (sealed) through
 * the CLI, the API or an OAuth authorisation, and stored ones take precedence.
 */
export interface ConnectionConfig {
  /** Base URL of the API; request paths are resolved against it. */
  baseUrl: string;
  auth?: AuthConfig;
  /**
   * Credentials given in the config, read from the environment (`secretFromEnv`) when first needed,
   * never written in source.
   * Field names per scheme: apiKey → `apiKey`; bearer → `token`; basic → `username`, `password`;
   * oauth2 → `clientId`, `clientSecret` (and optionally `refreshToken`); custom → whatever `sign` reads.
   */
  credentials?: ConnectionCredentials;
  /**
   * Requests per time, shared by every worker: `"5/s"`, `"10/s burst 20"`, `"100 per 10s"`, `"1000/h"`.
   * Without a burst, requests are spread evenly, so no window of that length ever holds more than the
   * limit. Omit (or false) for no configured limit; 429s and rate-limit headers still slow it down.
   */
  rateLimit?: string | false;
  /** Circuit breaker; on by default (5 consecutive retryable failures, 30 s cooldown). */
  circuit?: { failureThreshold?: number; cooldown?: Duration } | false;
  timeouts?: {
    /** TCP + TLS connect. Default 10 s. */
    connect?: Duration;
    /** Until the response headers arrive. Default 30 s. */
    headers?: Duration;
    /** Between body chunks. Default 30 s. */
    body?: Duration;
  };
  /** Header carrying the step's idempotency key on non-GET requests. Default "Idempotency-Key"; false to send none. */
  idempotencyHeader?: string | false;
  /** Headers sent with every request (User-Agent, API version pins). */
  headers?: Record<string, string>;
  audit?: {
    /** Bodies are cut to this many bytes in the audit trail. Default 16 KiB. */
    bodyLimit?: number;
    /** More header names to redact, beyond the built-in ones (Authorization, cookies, anything named like a key, token or secret). */
    redactHeaders?: string[];
    /** More JSON/form field names to redact in bodies. */
    redactFields?: string[];
  };
  /**
   * How the other end's answers are read. `"api"` (default): 401/403 mean the credentials were rejected (the
   * connection becomes auth_failed and its runs pause), another 4xx is a refused request (the run fails), 5xx
   * and 408 are retried. `"webhook"`: the other end is a webhook receiver, for which any answer but a 2xx is a
   * failed delivery, retried (Standard Webhooks); its answers never pause the connection, and their bodies are
   * not learned for drift. 429 slows the connection down either way.
   */
  answers?: "api" | "webhook";
  /** Refresh an OAuth access token this long before it expires. Default 60 s. */
  refreshSkew?: Duration;
}

export type AuthConfig =
  | { type: "none" }
  /** A key in a header (`X-Api-Key: …`) or a query parameter (`?api_key=…`). Credential field: `apiKey`. */
  | {
      type: "apiKey";
      in: "header" | "query";
      name: string /** e.g. "Token " for `Authorization: Token …` */;
      prefix?: string;
    }
  /** `Authorization: Bearer …` with a long-lived token. Credential field: `token`. */
  | { type: "bearer" }
  /** HTTP Basic. Credential fields: `username`, `password`. */
  | { type: "basic" }
  | OAuth2ClientCredentialsConfig
  | OAuth2AuthorizationCodeConfig
  /** Anything else (HMAC-signed requests, AWS-style signatures): `sign` edits each outgoing request. */
  | { type: "custom"; sign: SignRequest };

interface OAuth2Common {
  type: "oauth2";
  tokenUrl: string;
  scopes?: string[];
  /** How the client authenticates at the token endpoint. Default "basic" (client_secret_basic). */
  clientAuth?: "basic" | "post";
}

/** Machine-to-machine: the token comes from `clientId` + `clientSecret`. */
export interface OAuth2ClientCredentialsConfig extends OAuth2Common {
  grant: "client_credentials";
}

/**
 * A person authorises Tenon once, at `/oauth/<connection>/start` (PKCE, state checked); the tokens are
 * stored sealed and refreshed ahead of expiry, with refresh-token rotation persisted atomically.
 */
export interface OAuth2AuthorizationCodeConfig extends OAuth2Common {
  grant: "authorization_code";
  authorizationUrl: string;
  /** Extra query parameters for the authorisation URL (e.g. `access_type: "offline"`). */
  authorizationParams?: Record<string, string>;
}

/** An outgoing request as the custom signing hook sees it; edit `headers` or `url` in place. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** The encoded body (undefined for none; multipart bodies are not available to sign). */
  body: string | Uint8Array | undefined;
}

export type SignRequest = (
  request: OutgoingRequest,
  credentials: Readonly<Record<string, string>>,
) => void | Promise<void>;

/** Credential fields whose values are not secret; every other field's value is redacted wherever it appears. */
export const publicCredentialFields: readonly string[] = ["clientId", "username"];
