import * as oauth from "oauth4webapi";
import { fetch as undiciFetch } from "undici";
import { ConfigurationError, NonRetryableError, RetryableError } from "../../sdk/errors.ts";
import type { OAuth2AuthorizationCodeConfig, OAuth2ClientCredentialsConfig } from "../connection-config.ts";

/**
 * The OAuth 2.0 protocol as Tenon speaks it (RFC 6749, PKCE per RFC 7636): the three grants a
 * connection uses, on top of oauth4webapi. It knows nothing of storage: the caller keeps the tokens,
 * decides when to refresh, and turns an `OAuthRejectedError` into the connection's `AuthError`.
 */

export interface TokenSet {
  accessToken: string;
  /** Undefined when the server issued none (client credentials usually do not). */
  refreshToken: string | undefined;
  /** Epoch ms, from `expires_in`; null when the server did not say. */
  expiresAt: number | null;
  /** The granted scopes as the server listed them; undefined when it did not (RFC 6749 §5.1: then as requested). */
  scope: string | undefined;
}

export interface OAuthClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** One HTTP exchange with the token endpoint, unredacted: the caller redacts before writing it anywhere. */
export interface OAuthExchange {
  method: string;
  url: string;
  /** Null when no answer came (network failure, timeout). */
  status: number | null;
  durationMs: number;
  requestHeaders: Record<string, string>;
  requestBody: string | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  /** Why no answer came, when none did. */
  error: string | null;
}

export interface OAuthOptions {
  now: () => number;
  /** Default: undici's fetch. */
  fetch?: typeof fetch;
  /** Per request, until the whole answer is read. Default 30 s. */
  timeoutMs?: number;
  /**
   * Read just before each request is sent: an aborted signal stops it from being sent, or aborts it in flight
   * (the caller's hold on the refresh token lapsed; see ConnectionAuth).
   */
  signal?: () => AbortSignal;
  onExchange?: (exchange: OAuthExchange) => void;
}

/**
 * The authorization server refused the client or the grant (bad client credentials, a revoked or
 * reused refresh token, a denied authorization): retrying cannot help, a person must fix the
 * credentials or authorize again.
 */
export class OAuthRejectedError extends Error {
  override readonly name = "OAuthRejectedError";

  constructor(
    /** The server's RFC 6749 §5.2 error code (`invalid_grant`, …), or `http_<status>` when it gave none. */
    readonly oauthError: string,
    message: string,
  ) {
    super(message);
  }
}

type OAuth2Config = OAuth2ClientCredentialsConfig | OAuth2AuthorizationCodeConfig;
type Grant = "client_credentials" | "refresh_token" | "authorization_code";

const defaultTimeoutMs = 30_000;

export async function requestClientCredentialsToken(
  config: OAuth2ClientCredentialsConfig,
  client: OAuthClientCredentials,
  options: OAuthOptions,
): Promise<TokenSet> {
  const endpoint = tokenEndpoint(config, client, options);
  const parameters = new URLSearchParams();
  if (config.scopes?.length) parameters.set("scope", config.scopes.join(" "));
  const failure = failureContext("client_credentials", config, options, [client.clientSecret]);
  const requestedAt = options.now();
  const answer = await callTokenEndpoint(failure, async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      endpoint.server,
      endpoint.client,
      endpoint.authenticate,
      parameters,
      endpoint.request,
    );
    return oauth.processClientCredentialsResponse(endpoint.server, endpoint.client, response);
  });
  return toTokenSet(answer, undefined, requestedAt);
}

/** When the server rotates refresh tokens the result carries the new one; otherwise `refreshToken` again. */
export async function refreshAccessToken(
  config: OAuth2Config,
  client: OAuthClientCredentials,
  refreshToken: string,
  options: OAuthOptions,
): Promise<TokenSet> {
  const endpoint = tokenEndpoint(config, client, options);
  const failure = failureContext("refresh_token", config, options, [client.clientSecret, refreshToken]);
  const requestedAt = options.now();
  const answer = await callTokenEndpoint(failure, async () => {
    const response = await oauth.refreshTokenGrantRequest(
      endpoint.server,
      endpoint.client,
      endpoint.authenticate,
      refreshToken,
      endpoint.request,
    );
    return oauth.processRefreshTokenResponse(endpoint.server, endpoint.client, response);
  });
  return toTokenSet(answer, refreshToken, requestedAt);
}

/**
 * The URL to send a person to, with a fresh PKCE (S256) verifier and state. Keep `state` and
 * `codeVerifier` (secret, server side) until the callback comes back to `finishAuthorization`.
 */
export async function startAuthorization(
  config: OAuth2AuthorizationCodeConfig,
  clientId: string,
  redirectUri: string,
): Promise<{ url: string; state: string; codeVerifier: string }> {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = parseConfiguredUrl(config.authorizationUrl, "authorizationUrl");
  for (const [name, value] of Object.entries(config.authorizationParams ?? {})) url.searchParams.set(name, value);
  // Set after the extra parameters so that none of them can replace the state or the PKCE challenge.
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", clientId);
  url.searchParams.set("redirect_uri", redirectUri);
  if (config.scopes?.length) url.searchParams.set("scope", config.scopes.join(" "));
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  return { url: url.href, state, codeVerifier };
}

/** Checks the callback the provider redirected the person to, then exchanges its code for tokens. */
export async function finishAuthorization(
  config: OAuth2AuthorizationCodeConfig,
  client: OAuthClientCredentials,
  redirectUri: string,
  callbackUrl: URL,
  expected: { state: string; codeVerifier: string },
  options: OAuthOptions,
): Promise<TokenSet> {
  const endpoint = tokenEndpoint(config, client, options);
  const code = callbackUrl.searchParams.get("code");
  const secrets = [client.clientSecret, expected.codeVerifier, ...(code ? [code] : [])];
  const failure = failureContext("authorization_code", config, options, secrets);
  const callback = validateCallback(endpoint, callbackUrl, expected.state, failure);
  const requestedAt = options.now();
  const answer = await callTokenEndpoint(failure, async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      endpoint.server,
      endpoint.client,
      endpoint.authenticate,
      callback,
      redirectUri,
      expected.codeVerifier,
      endpoint.request,
    );
    return oauth.processAuthorizationCodeResponse(endpoint.server, endpoint.client, response);
  });
  return toTokenSet(answer, undefined, requestedAt);
}

interface TokenEndpoint {
  server: oauth.AuthorizationServer;
  client: oauth.Client;
  authenticate: oauth.ClientAuth;
  request: oauth.HttpRequestOptions<"POST", URLSearchParams>;
}

function tokenEndpoint(config: OAuth2Config, client: OAuthClientCredentials, options: OAuthOptions): TokenEndpoint {
  const tokenUrl = parseConfiguredUrl(config.tokenUrl, "tokenUrl");
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  // No discovery: the connection config names the endpoints, so the metadata is what it says.
  const server: oauth.AuthorizationServer = {
    issuer: tokenUrl.origin,
    token_endpoint: tokenUrl.href,
    ...(config.grant === "authorization_code" ? { authorization_endpoint: config.authorizationUrl } : {}),
  };
  return {
    server,
    client: { client_id: client.clientId },
    authenticate:
      config.clientAuth === "post"
        ? oauth.ClientSecretPost(client.clientSecret)
        : oauth.ClientSecretBasic(client.clientSecret),
    request: {
      signal: () =>
        options.signal
          ? AbortSignal.any([AbortSignal.timeout(timeoutMs), options.signal()])
          : AbortSignal.timeout(timeoutMs),
      [oauth.customFetch]: recordingFetch(options),
      // Plain http is only for the local sandbox and tests; https endpoints keep the library's check.
      [oauth.allowInsecureRequests]: tokenUrl.protocol === "http:",
    },
  };
}

function parseConfiguredUrl(value: string, field: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new ConfigurationError(
      `the connection's OAuth ${field} "${value}" is not a valid absolute URL; fix it in the connection config`,
    );
  }
}

/** A fetch failure (no answer at all), told apart from errors the library raises about an answer. */
class TransportFailure extends Error {
  override readonly name = "TransportFailure";

  constructor(
    readonly timedOut: boolean,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

type CustomFetch = NonNullable<oauth.HttpRequestOptions<"POST", URLSearchParams>[typeof oauth.customFetch]>;

function recordingFetch(options: OAuthOptions): CustomFetch {
  // undici's types describe the same fetch as the global one, but with their own class identities.
  const send = options.fetch ?? (undiciFetch as unknown as typeof fetch);
  return async (url, init) => {
    const startedAt = performance.now();
    const sent = {
      method: init.method,
      url,
      requestHeaders: { ...init.headers },
      requestBody: init.body?.toString() ?? null,
    };
    const report = (answer: Pick<OAuthExchange, "status" | "responseHeaders" | "responseBody" | "error">) =>
      options.onExchange?.({ ...sent, ...answer, durationMs: performance.now() - startedAt });
    let response: Response;
    let responseBody: string;
    try {
      response = await send(url, init);
      // Read in full here, so a body that stalls past the timeout counts as no answer, not a malformed one.
      responseBody = await response.clone().text();
    } catch (cause) {
      const timedOut = cause instanceof Error && cause.name === "TimeoutError";
      const error = timedOut ? "timed out" : describeTransportFailure(cause);
      report({ status: null, responseHeaders: null, responseBody: null, error });
      throw new TransportFailure(timedOut, error, { cause });
    }
    report({
      status: response.status,
      responseHeaders: Object.fromEntries(response.headers.entries()),
      responseBody,
      error: null,
    });
    return response;
  };
}

function describeTransportFailure(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  // undici reports "fetch failed" and puts the socket error (ECONNREFUSED, ENOTFOUND) in `cause`.
  const inner = cause.cause;
  if (inner instanceof Error) return "code" in inner && typeof inner.code === "string" ? inner.code : inner.message;
  return cause.message;
}

function toTokenSet(
  answer: oauth.TokenEndpointResponse,
  previousRefreshToken: string | undefined,
  requestedAt: number,
): TokenSet {
  return {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token ?? previousRefreshToken,
    // Counted from when the request was sent, so the token is never believed valid longer than it is.
    expiresAt: answer.expires_in === undefined ? null : requestedAt + answer.expires_in * 1000,
    scope: answer.scope,
  };
}

function validateCallback(
  endpoint: TokenEndpoint,
  callbackUrl: URL,
  expectedState: string,
  failure: FailureContext,
): URLSearchParams {
  let callback: URLSearchParams;
  try {
    callback = oauth.validateAuthResponse(endpoint.server, endpoint.client, callbackUrl, expectedState);
  } catch (thrown) {
    if (thrown instanceof oauth.AuthorizationResponseError) {
      throw refusedAuthorization(thrown.error, thrown.error_description, failure);
    }
    if (thrown instanceof oauth.OperationProcessingError) {
      // The library's message names what failed (the state, the issuer), never the values.
      throw new NonRetryableError(
        `the OAuth callback was not accepted (${thrown.message}): it may be stale, replayed or not from this authorization; start the authorization again`,
      );
    }
    throw thrown;
  }
  if (!callback.get("code")) {
    throw new NonRetryableError(
      "the OAuth callback carries neither an authorization code nor an error; start the authorization again",
    );
  }
  return callback;
}

function refusedAuthorization(code: string, description: string | undefined, failure: FailureContext): Error {
  const said = failure.serverSaid(code, description);
  const message =
    code === "access_denied"
      ? `the authorization was declined at the provider (${said}); start the authorization again and approve access`
      : `the provider ended the authorization (${said}). ${advice(code, failure)}; then start the authorization again`;
  return new OAuthRejectedError(failure.serverSaid(code), message);
}

interface FailureContext {
  grant: Grant;
  config: OAuth2Config;
  /** The token endpoint as messages name it: no query string, in case one carries a parameter. */
  endpoint: string;
  timeoutMs: number;
  now: () => number;
  /**
   * The server's error code and description as messages quote them, with every secret of this request
   * removed: a server may echo what it was sent (a code, a refresh token) in its description.
   */
  serverSaid: (code: string, description?: string) => string;
}

function failureContext(grant: Grant, config: OAuth2Config, options: OAuthOptions, secrets: string[]): FailureContext {
  const url = parseConfiguredUrl(config.tokenUrl, "tokenUrl");
  const present = secrets.filter((secret) => secret.length > 0);
  return {
    grant,
    config,
    endpoint: `${url.origin}${url.pathname}`,
    timeoutMs: options.timeoutMs ?? defaultTimeoutMs,
    now: options.now,
    serverSaid: (code, description) =>
      present.reduce(
        (text, secret) => text.replaceAll(secret, "[redacted]"),
        description ? `${code}: ${description}` : code,
      ),
  };
}

const grantNames: Record<Grant, string> = {
  client_credentials: "client-credentials",
  refresh_token: "refresh-token",
  authorization_code: "authorization-code",
};

async function callTokenEndpoint(
  failure: FailureContext,
  exchange: () => Promise<oauth.TokenEndpointResponse>,
): Promise<oauth.TokenEndpointResponse> {
  try {
    return await exchange();
  } catch (thrown) {
    throw await explainFailure(thrown, failure);
  }
}

async function explainFailure(thrown: unknown, failure: FailureContext): Promise<unknown> {
  const request = `the ${grantNames[failure.grant]} request to the token endpoint ${failure.endpoint}`;
  if (thrown instanceof TransportFailure) {
    const what = thrown.timedOut
      ? `got no answer within ${failure.timeoutMs} ms`
      : `could not be sent (${thrown.message})`;
    return new RetryableError(`${request} ${what}; it will be retried`, { cause: thrown.cause });
  }
  if (thrown instanceof oauth.ResponseBodyError) {
    return answeredWithError(thrown.response, thrown.error, thrown.error_description, request, failure);
  }
  if (thrown instanceof oauth.WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a 401 for Basic client authentication carries a challenge, and the error code is
    // still in the body, which the library left unread.
    const body = await readErrorBody(thrown.response);
    const code = body.error ?? thrown.cause[0]?.parameters.error;
    return answeredWithError(thrown.response, code, body.description, request, failure);
  }
  if (thrown instanceof oauth.OperationProcessingError && carriesResponse(thrown)) {
    const response = thrown.cause as Response;
    if (response.status !== 200) {
      // The library parses error bodies of 4xx answers only; a 5xx may still say what went wrong.
      const body = await readErrorBody(response);
      return answeredWithError(response, body.error, body.description, request, failure);
    }
  }
  if (thrown instanceof oauth.OperationProcessingError || thrown instanceof oauth.UnsupportedOperationError) {
    // The library's messages name the faulty field, never its value; its `cause` holds the body, tokens
    // included, so it is not passed on.
    return new RetryableError(
      `${request} was answered with HTTP 200 but not a usable token response (${thrown.message}); it will be retried, and if it persists the tokenUrl may point at the wrong endpoint`,
    );
  }
  return thrown;
}

function carriesResponse(error: oauth.OperationProcessingError): boolean {
  return error.code === oauth.RESPONSE_IS_NOT_CONFORM || error.code === oauth.RESPONSE_IS_NOT_JSON;
}

async function readErrorBody(response: Response): Promise<{ error?: string; description?: string }> {
  try {
    const body: unknown = await response.json();
    if (typeof body !== "object" || body === null) return {};
    const { error, error_description } = body as Record<string, unknown>;
    return {
      ...(typeof error === "string" && error ? { error } : {}),
      ...(typeof error_description === "string" ? { description: error_description } : {}),
    };
  } catch {
    return {};
  }
}

/** Codes by which the server refuses the client or the grant itself: a person must act, whatever the status. */
const refusalCodes = new Set([
  "invalid_grant",
  "invalid_client",
  "unauthorized_client",
  "access_denied",
  "invalid_scope",
]);

function answeredWithError(
  response: Response,
  code: string | undefined,
  description: string | undefined,
  request: string,
  failure: FailureContext,
): Error {
  const status = response.status;
  const answer = `HTTP ${status}${code ? ` (${failure.serverSaid(code, description)})` : ""}`;
  const refused = code !== undefined && refusalCodes.has(code);
  if (!refused && (status >= 500 || status === 429 || status === 408 || code === "temporarily_unavailable")) {
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response, failure.now) : undefined;
    const when =
      retryAfterMs === undefined ? "with backoff" : `after ${Math.ceil(retryAfterMs / 1000)} s, as the server asked`;
    return new RetryableError(`${request} was answered with ${answer}; it will be retried ${when}`, {
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (!refused && status < 400) {
    if (status >= 300 && status < 400) {
      return new OAuthRejectedError(
        `http_${status}`,
        `${request} was redirected (HTTP ${status}); token requests do not follow redirects, so set the connection's tokenUrl to the final address`,
      );
    }
    return new RetryableError(`${request} was answered with HTTP ${status} instead of 200; it will be retried`);
  }
  const oauthError = code ?? `http_${status}`;
  return new OAuthRejectedError(
    failure.serverSaid(oauthError),
    `${request} was refused with ${answer}. ${advice(oauthError, failure)}`,
  );
}

function advice(oauthError: string, failure: FailureContext): string {
  switch (oauthError) {
    case "invalid_client":
    case "http_401":
      return `Check the connection's clientId and clientSecret, and whether the provider expects them in the Authorization header (clientAuth "basic") or in the form body (clientAuth "post"; this request used "${failure.config.clientAuth ?? "basic"}")`;
    case "unauthorized_client":
      return `This client may not use the ${grantNames[failure.grant]} grant: allow it for the client at the provider`;
    case "invalid_scope":
      return `The provider does not allow the requested scopes (${failure.config.scopes?.join(" ") || "none configured"}) for this client: fix scopes in the connection config or the client at the provider`;
    case "access_denied":
      return "The provider denied this client access: check the client's permissions at the provider";
    case "invalid_grant":
      if (failure.grant === "refresh_token") {
        return "The refresh token is expired, revoked or was already used: authorize the connection again";
      }
      if (failure.grant === "authorization_code") {
        return "The authorization code is invalid, expired or already used, or the redirect URI or PKCE verifier did not match: start the authorization again";
      }
      return "The provider refused the grant: check the client's configuration at the provider";
    default:
      return "Fix the connection's OAuth configuration or credentials, then try again";
  }
}

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function parseRetryAfter(response: Response, now: () => number): number | undefined {
  const value = response.headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now());
}
