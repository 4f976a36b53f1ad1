import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { LoopbackServer } from "./loopback-server.ts";

/**
 * An OAuth 2.0 authorization server and the API it protects, on a real loopback port, speaking the
 * wire format of RFC 6749 (token endpoint, authorization endpoint, §5.2 errors), RFC 7636 (PKCE,
 * S256 only) and RFC 6750 (bearer tokens, `WWW-Authenticate` challenges):
 *
 * - `POST /token`: grants `client_credentials`, `refresh_token`, `authorization_code`; the client
 *   authenticates with HTTP Basic (RFC 6749 §2.3.1 encoding) or `client_id` + `client_secret` in the body.
 * - `GET /authorize`: approves at once (or declines, after `denyNext()`) and redirects with 302.
 * - `/api/*`, any method: answers `{ ok: true, path, method, body }` to a valid, unexpired bearer token.
 *
 * The knobs play what real providers do to a client: expiring and rotating tokens, revocation, outages, slowness.
 */
export class OAuthTestServer extends LoopbackServer {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Exact redirect URIs the client registered. */
  readonly redirectUris: readonly string[];
  /** Scopes a client may ask for; undefined accepts any. */
  allowedScopes: readonly string[] | undefined;
  /** `expires_in` of every access token issued from now on. */
  tokenLifetimeSec = 3600;
  /** Each refresh issues a new refresh token and invalidates the one used; without, the same one stays valid. */
  rotateRefreshTokens = true;
  /**
   * The token endpoint waits this long before answering. The grant is carried out first, as when a
   * provider's answer is lost in transit: a rotated refresh token is spent even if the client gave up.
   */
  delayTokenResponsesMs = 0;
  /** Token requests received, by grant type, counted before any injected failure. */
  readonly tokenRequests: Record<GrantType, number> = {
    client_credentials: 0,
    refresh_token: 0,
    authorization_code: 0,
  };
  /** How the last token request authenticated its client. */
  lastClientAuth: "basic" | "post" | null = null;
  /** Every request to `/api/*`, answered or refused, in arrival order. */
  readonly apiRequests: ApiRequest[] = [];

  readonly #accessTokens = new Map<string, { expiresAt: number }>();
  readonly #refreshTokens = new Map<string, { scope: string | undefined }>();
  readonly #codes = new Map<string, IssuedCode>();
  #denyNext = false;
  #heldTokenResponse: Promise<void> | undefined;
  #failures: { remaining: number; status: number; retryAfterSec: number | undefined } = {
    remaining: 0,
    status: 500,
    retryAfterSec: undefined,
  };

  constructor(options: OAuthTestServerOptions = {}) {
    super();
    this.clientId = options.clientId ?? "tenon-test-client";
    this.clientSecret = options.clientSecret ?? "tenon-test-secret";
    this.redirectUris = options.redirectUris ?? ["http://127.0.0.1:3000/oauth/crm/callback"];
    this.allowedScopes = options.allowedScopes;
  }

  get tokenUrl(): string {
    return `${this.origin}/token`;
  }

  get authorizationUrl(): string {
    return `${this.origin}/authorize`;
  }

  /** The next authorization is declined, as if the person clicked "Deny". */
  denyNext(): void {
    this.#denyNext = true;
  }

  /**
   * The next token request is carried out at once but answered only when the returned function is called,
   * as when a provider is slow to answer or its answer is stuck in transit.
   */
  holdNextTokenResponse(): () => void {
    let release = () => {};
    this.#heldTokenResponse = new Promise<void>((resolve) => {
      release = resolve;
    });
    return release;
  }

  /** Every refresh token issued so far becomes invalid (`invalid_grant`), as when a person revokes access. */
  revokeRefreshTokens(): void {
    this.#refreshTokens.clear();
  }

  /** Every access token issued so far stops working at the API (401 `invalid_token`). */
  expireAccessTokens(): void {
    this.#accessTokens.clear();
  }

  /**
   * The next `count` token requests are answered with `status` (and `Retry-After`, if given) without
   * being carried out: a 5xx or 429 as plain text, a 4xx as an RFC 6749 §5.2 error.
   */
  failTokenRequests(count: number, status: number, retryAfterSec?: number): void {
    this.#failures = { remaining: count, status, retryAfterSec };
  }

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", this.origin);
    const body = await readBody(request);
    let answer: Answer;
    if (url.pathname === "/token") answer = await this.#token(request, body);
    else if (url.pathname === "/authorize") answer = this.#authorize(request, url);
    else if (url.pathname.startsWith("/api/")) answer = this.#api(request, body);
    else answer = { status: 404, json: { error: "not_found" } };
    // A client that gave up (a timeout) has closed the socket; there is no one to answer.
    if (!request.socket.destroyed) send(response, answer);
  }

  async #token(request: IncomingMessage, body: string): Promise<Answer> {
    if (request.method !== "POST") {
      return {
        status: 405,
        json: { error: "invalid_request", error_description: "use POST" },
        headers: { allow: "POST" },
      };
    }
    const form = new URLSearchParams(body);
    const grantType = form.get("grant_type");
    if (isGrantType(grantType)) this.tokenRequests[grantType]++;
    const answer = this.#failures.remaining > 0 ? this.#injectedFailure() : this.#grant(request, form, grantType);
    if (this.delayTokenResponsesMs > 0) await sleep(this.delayTokenResponsesMs);
    const held = this.#heldTokenResponse;
    this.#heldTokenResponse = undefined;
    if (held) await held;
    return { ...answer, headers: { ...noStore, ...answer.headers } };
  }

  /** Outages answer the way gateways do (plain text); refusals the way RFC 6749 §5.2 says. Nothing is granted. */
  #injectedFailure(): Answer {
    this.#failures.remaining--;
    const { status, retryAfterSec } = this.#failures;
    const headers: Record<string, string> = retryAfterSec === undefined ? {} : { "retry-after": String(retryAfterSec) };
    if (status >= 500 || status === 429) return { status, text: `injected failure ${status}`, headers };
    return oauthError(status, status === 401 ? "invalid_client" : "invalid_request", "injected failure", headers);
  }

  #grant(request: IncomingMessage, form: URLSearchParams, grantType: string | null): Answer {
    if (!request.headers["content-type"]?.startsWith("application/x-www-form-urlencoded")) {
      return oauthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded");
    }
    const client = this.#authenticateClient(request, form);
    if (client !== "ok") return client;
    switch (grantType) {
      case "client_credentials": {
        const scope = form.get("scope") ?? undefined;
        if (!this.#scopeAllowed(scope)) return oauthError(400, "invalid_scope", "a requested scope is not allowed");
        // RFC 6749 §4.4.3: no refresh token for client credentials.
        return this.#issue(scope, false);
      }
      case "refresh_token":
        return this.#refresh(form);
      case "authorization_code":
        return this.#redeemCode(form);
      default:
        return oauthError(400, "unsupported_grant_type", `grant_type "${grantType ?? ""}" is not supported`);
    }
  }

  #authenticateClient(request: IncomingMessage, form: URLSearchParams): "ok" | Answer {
    const header = request.headers.authorization;
    let credentials: { id: string; secret: string } | null = null;
    if (header?.startsWith("Basic ")) {
      if (form.has("client_secret")) {
        return oauthError(400, "invalid_request", "the client must use only one authentication method");
      }
      this.lastClientAuth = "basic";
      credentials = decodeBasic(header.slice("Basic ".length));
    } else if (form.has("client_secret")) {
      this.lastClientAuth = "post";
      credentials = { id: form.get("client_id") ?? "", secret: form.get("client_secret") ?? "" };
    } else {
      this.lastClientAuth = null;
    }
    if (credentials?.id === this.clientId && credentials.secret === this.clientSecret) return "ok";
    // RFC 6749 §5.2: a client that tried Basic gets 401 with a challenge for that scheme.
    const challenge = header?.startsWith("Basic ") ? { "www-authenticate": 'Basic realm="tenon-test"' } : undefined;
    return oauthError(401, "invalid_client", "client authentication failed", challenge);
  }

  #refresh(form: URLSearchParams): Answer {
    const refreshToken = form.get("refresh_token");
    if (!refreshToken) return oauthError(400, "invalid_request", "refresh_token is required");
    const grant = this.#refreshTokens.get(refreshToken);
    if (!grant)
      return oauthError(400, "invalid_grant", "the refresh token is invalid, expired, revoked or already used");
    const requested = form.get("scope") ?? undefined;
    if (requested !== undefined && !isSubset(requested, grant.scope)) {
      return oauthError(400, "invalid_scope", "a refresh may not widen the granted scope");
    }
    if (!this.rotateRefreshTokens) return this.#issue(requested ?? grant.scope, false);
    this.#refreshTokens.delete(refreshToken);
    return this.#issue(requested ?? grant.scope, true);
  }

  #redeemCode(form: URLSearchParams): Answer {
    const code = form.get("code");
    if (!code) return oauthError(400, "invalid_request", "code is required");
    const issued = this.#codes.get(code);
    // RFC 6749 §4.1.2: a code is good for one attempt.
    this.#codes.delete(code);
    if (!issued || issued.expiresAt <= Date.now()) {
      return oauthError(400, "invalid_grant", "the authorization code is invalid, expired or already used");
    }
    if (form.get("redirect_uri") !== issued.redirectUri) {
      return oauthError(400, "invalid_grant", "redirect_uri does not match the authorization request");
    }
    const verifier = form.get("code_verifier");
    if (!verifier || !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || s256(verifier) !== issued.codeChallenge) {
      return oauthError(400, "invalid_grant", "PKCE verification failed");
    }
    return this.#issue(issued.scope, true);
  }

  #issue(scope: string | undefined, withRefreshToken: boolean): Answer {
    const accessToken = `at_${randomBytes(18).toString("base64url")}`;
    this.#accessTokens.set(accessToken, { expiresAt: Date.now() + this.tokenLifetimeSec * 1000 });
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: this.tokenLifetimeSec,
      ...(scope === undefined ? {} : { scope }),
    };
    if (withRefreshToken) {
      const refreshToken = `rt_${randomBytes(18).toString("base64url")}`;
      this.#refreshTokens.set(refreshToken, { scope });
      body.refresh_token = refreshToken;
    }
    return { status: 200, json: body };
  }

  #authorize(request: IncomingMessage, url: URL): Answer {
    if (request.method !== "GET") return { status: 405, text: "use GET" };
    const query = url.searchParams;
    // RFC 6749 §4.1.2.1: with an unknown client or redirect URI, tell the person, never redirect.
    if (query.get("client_id") !== this.clientId) return { status: 400, text: "unknown client_id" };
    const redirectUri = query.get("redirect_uri") ?? "";
    if (!this.redirectUris.includes(redirectUri)) return { status: 400, text: "redirect_uri is not registered" };
    const state = query.get("state");
    const redirect = (parameters: Record<string, string>): Answer => {
      const location = new URL(redirectUri);
      for (const [name, value] of Object.entries(parameters)) location.searchParams.set(name, value);
      if (state !== null) location.searchParams.set("state", state);
      return { status: 302, headers: { location: location.href } };
    };
    const refuse = (error: string, description: string) => redirect({ error, error_description: description });

    if (query.get("response_type") !== "code") return refuse("unsupported_response_type", "only code is supported");
    const codeChallenge = query.get("code_challenge");
    if (!codeChallenge || !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) {
      return refuse("invalid_request", "a PKCE code_challenge is required");
    }
    if (query.get("code_challenge_method") !== "S256") {
      return refuse("invalid_request", "transform algorithm not supported, use S256");
    }
    const scope = query.get("scope") ?? undefined;
    if (!this.#scopeAllowed(scope)) return refuse("invalid_scope", "a requested scope is not allowed");
    if (this.#denyNext) {
      this.#denyNext = false;
      return refuse("access_denied", "the resource owner denied the request");
    }
    const code = `code_${randomBytes(18).toString("base64url")}`;
    this.#codes.set(code, { redirectUri, codeChallenge, scope, expiresAt: Date.now() + 10 * 60_000 });
    return redirect({ code });
  }

  #api(request: IncomingMessage, body: string): Answer {
    const path = request.url ?? "/";
    const method = request.method ?? "GET";
    this.apiRequests.push({ at: Date.now(), method, path, headers: flattenHeaders(request), body });
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "");
    if (!match) {
      // RFC 6750 §3.1: a request without credentials gets a challenge but no error code.
      return {
        status: 401,
        json: { error: "unauthorized" },
        headers: { "www-authenticate": 'Bearer realm="tenon-test"' },
      };
    }
    const token = this.#accessTokens.get(match[1] ?? "");
    if (!token || token.expiresAt <= Date.now()) {
      const challenge =
        'Bearer realm="tenon-test", error="invalid_token", error_description="the access token is invalid or expired"';
      return { status: 401, json: { error: "invalid_token" }, headers: { "www-authenticate": challenge } };
    }
    return { status: 200, json: { ok: true, path, method, body: parseBody(request, body) } };
  }

  #scopeAllowed(scope: string | undefined): boolean {
    if (scope === undefined || this.allowedScopes === undefined) return true;
    return scope.split(" ").every((one) => this.allowedScopes?.includes(one));
  }
}

export interface OAuthTestServerOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUris?: string[];
  allowedScopes?: string[];
}

export interface ApiRequest {
  /** Epoch ms (Date.now()) when it arrived. */
  at: number;
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

type GrantType = "client_credentials" | "refresh_token" | "authorization_code";

interface IssuedCode {
  redirectUri: string;
  codeChallenge: string;
  scope: string | undefined;
  expiresAt: number;
}

/** An HTTP answer: JSON, plain text, or neither (a redirect). */
interface Answer {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  text?: string;
}

// RFC 6749 §5.1: token responses must not be cached.
const noStore = { "cache-control": "no-store", pragma: "no-cache" };

function isGrantType(value: string | null): value is GrantType {
  return value === "client_credentials" || value === "refresh_token" || value === "authorization_code";
}

function oauthError(status: number, error: string, description: string, headers?: Record<string, string>): Answer {
  return { status, json: { error, error_description: description }, ...(headers ? { headers } : {}) };
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded. */
function decodeBasic(encoded: string): { id: string; secret: string } | null {
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  try {
    const formDecode = (value: string) => decodeURIComponent(value.replaceAll("+", " "));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

function isSubset(requested: string, granted: string | undefined): boolean {
  const allowed = new Set(granted?.split(" ") ?? []);
  return requested.split(" ").every((scope) => allowed.has(scope));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function parseBody(request: IncomingMessage, body: string): unknown {
  if (body === "") return null;
  if (!request.headers["content-type"]?.includes("json")) return body;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function flattenHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function send(response: ServerResponse, answer: Answer): void {
  if (answer.json !== undefined) {
    response.writeHead(answer.status, { "content-type": "application/json;charset=UTF-8", ...answer.headers });
    response.end(JSON.stringify(answer.json));
  } else if (answer.text !== undefined) {
    response.writeHead(answer.status, { "content-type": "text/plain;charset=UTF-8", ...answer.headers });
    response.end(answer.text);
  } else {
    response.writeHead(answer.status, answer.headers).end();
  }
}
