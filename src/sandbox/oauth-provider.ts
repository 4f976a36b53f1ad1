import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { outageOnly } from "./sandbox-system.ts";

/**
 * A small OAuth 2.0 authorization server (RFC 6749, PKCE per RFC 7636) shared by the sandbox systems
 * that use OAuth (the HubSpot-like CRM, the QuickBooks-like accounting). Each system mounts its routes
 * at the real provider's paths and checks bearer tokens with `authenticate`. A sandbox has no login: a
 * browser (one that asks for HTML) gets a consent page with Approve and Deny, as a person sees at the real
 * provider, and a program (a test, the demo's scripted re-authorisation) is approved at once. `issueGrant`
 * plays a person authorising, which is how the demo bootstraps a connection and how it recovers after a
 * "revoke credentials" fault.
 */

export type OAuthErrorCode =
  | "access_denied"
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type";

export interface OAuthProviderOptions {
  now: () => number;
  /** Generated in `format.clientId()` style when not given. */
  clientId?: string;
  clientSecret?: string;
  /**
   * Where the token endpoint reads the client's credentials (RFC 6749 §2.3.1): the `Authorization: Basic`
   * header (Intuit) or `client_id` + `client_secret` in the form body (HubSpot). The other place is ignored,
   * as the real providers ignore it, so a client configured the wrong way is refused with `invalid_client`.
   */
  clientAuth: "basic" | "post";
  /** `expires_in` of every access token issued. */
  accessTokenTtlSeconds: number;
  /**
   * Each refresh issues a new refresh token. The one used stays valid until its successor is first
   * used (as Intuit's do), so a client whose answer was lost can retry with the token it still holds.
   */
  rotateRefreshTokens: boolean;
  /** Exact redirect URIs the client registered; undefined accepts any http(s) URI (a sandbox cannot know Tenon's). */
  redirectUris?: readonly string[];
  /** How this provider's ids and tokens look (prefixes and lengths like the real ones). */
  format: OAuthTokenFormat;
  /** Extra fields of every successful token answer (Intuit's `x_refresh_token_expires_in`). */
  tokenResponseExtras?: Record<string, unknown>;
  /** Extra query parameters on the redirect after approval (Intuit's `realmId`). */
  callbackParams?: Record<string, string>;
  /** Who asks on the consent page a browser sees ("Accounting (QuickBooks-like sandbox)"). */
  consentTitle?: string;
  /** The body of a token endpoint error; default the RFC 6749 §5.2 `{ error, error_description }`. */
  errorBody?: (error: OAuthErrorCode, description: string) => Record<string, unknown>;
}

export interface OAuthTokenFormat {
  clientId(): string;
  clientSecret(): string;
  accessToken(): string;
  refreshToken(): string;
}

/** What a bearer token on an API request turned out to be. */
export type Authentication =
  | { ok: true; clientId: string }
  | { ok: false; reason: "missing" | "invalid" }
  | { ok: false; reason: "expired"; expiredAt: number };

export interface OAuthCounters {
  /** Authorisations by a person: codes exchanged plus `issueGrant` calls. */
  authorizations: number;
  accessTokensIssued: number;
  refreshes: number;
  /** Refresh tokens replaced by rotation. */
  rotations: number;
  /** Token requests refused (bad client, revoked or unknown grant, PKCE mismatch…). */
  rejectedTokenRequests: number;
  /** API requests whose bearer token was missing, unknown, revoked or expired. */
  rejectedApiRequests: number;
  revocations: number;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string | undefined;
  expiresAt: number;
}

interface IssuedRefreshToken {
  clientId: string;
  /** Rotation: the token issued in exchange for this one, not used yet. */
  successor: string | undefined;
  /** Rotation: the token this one replaced, still valid until this one is first used. */
  predecessor: string | undefined;
}

interface IssuedAccessToken {
  clientId: string;
  expiresAt: number;
}

class TokenRequestError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

/** RFC 6749 §4.1.2: codes are short-lived; ten minutes is the recommended maximum. */
const codeLifetimeMs = 10 * 60_000;
/** Expired access tokens are remembered this long, so an API can say "expired" rather than "unknown". */
const rememberExpiredMs = 24 * 3_600_000;

export class OAuthProvider {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly #options: OAuthProviderOptions;
  readonly #codes = new Map<string, IssuedCode>();
  readonly #refreshTokens = new Map<string, IssuedRefreshToken>();
  readonly #accessTokens = new Map<string, IssuedAccessToken>();
  #currentGrant: string | undefined;
  readonly #counters: OAuthCounters = {
    authorizations: 0,
    accessTokensIssued: 0,
    refreshes: 0,
    rotations: 0,
    rejectedTokenRequests: 0,
    rejectedApiRequests: 0,
    revocations: 0,
  };

  constructor(options: OAuthProviderOptions) {
    this.#options = options;
    this.clientId = options.clientId ?? options.format.clientId();
    this.clientSecret = options.clientSecret ?? options.format.clientSecret();
  }

  /**
   * The authorize endpoint (GET: a consent page for a browser, approval at once for a program; POST: the consent
   * page's answer) and the token endpoint (POST, form), at the provider's paths.
   */
  registerRoutes(app: FastifyInstance, paths: { authorize: string; token: string }): void {
    app.get(paths.authorize, { config: outageOnly }, async (request, reply) => this.#authorize(request, reply));
    app.post(paths.authorize, { config: outageOnly }, async (request, reply) => this.#authorize(request, reply));
    app.post(paths.token, { config: outageOnly }, async (request, reply) => this.#token(request, reply));
  }

  /** `POST /_sandbox/<name>/authorizations` → `{ refresh_token }`: a person authorises Tenon again. */
  registerControlRoutes(app: FastifyInstance): void {
    app.post("/authorizations", async () => ({ refresh_token: this.issueGrant() }));
  }

  /** What a person authorising produces: a fresh refresh token for the client (no code exchange needed). */
  issueGrant(): string {
    this.#counters.authorizations += 1;
    return this.#issueRefreshToken(this.clientId, undefined);
  }

  /**
   * What a connection needs (`credentials()` of an OAuth system): the client and a refresh token that
   * works now, the current grant or, once it was revoked or retired by rotation, a new one.
   */
  connectionCredentials(): { clientId: string; clientSecret: string; refreshToken: string } {
    if (this.#currentGrant === undefined || !this.isActiveRefreshToken(this.#currentGrant)) {
      this.#currentGrant = this.issueGrant();
    }
    return { clientId: this.clientId, clientSecret: this.clientSecret, refreshToken: this.#currentGrant };
  }

  /** A person authorises again (after a revocation): a new grant, which `connectionCredentials` hands out from now on. */
  authorizeAgain(): { refreshToken: string } {
    this.#currentGrant = this.issueGrant();
    return { refreshToken: this.#currentGrant };
  }

  /** Checks an API request's `Authorization: Bearer …` header. */
  authenticate(authorization: string | undefined): Authentication {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
    const issued = token === undefined ? undefined : this.#accessTokens.get(token);
    if (!issued) {
      this.#counters.rejectedApiRequests += 1;
      return { ok: false, reason: token === undefined ? "missing" : "invalid" };
    }
    if (issued.expiresAt <= this.#options.now()) {
      this.#counters.rejectedApiRequests += 1;
      return { ok: false, reason: "expired", expiredAt: issued.expiresAt };
    }
    return { ok: true, clientId: issued.clientId };
  }

  /** Every access and refresh token (and pending code) stops working; the client id and secret stay valid. */
  revokeAll(): void {
    this.#codes.clear();
    this.#refreshTokens.clear();
    this.#accessTokens.clear();
    this.#counters.revocations += 1;
  }

  /** Whether a refresh token would still be accepted (not revoked, not retired by rotation). */
  isActiveRefreshToken(token: string): boolean {
    return this.#refreshTokens.has(token);
  }

  counters(): OAuthCounters {
    return { ...this.#counters };
  }

  #authorize(request: FastifyRequest, reply: FastifyReply) {
    const query = request.query as Record<string, string | undefined>;
    // RFC 6749 §4.1.2.1: with an unknown client or a bad redirect URI the person is told, never redirected.
    if (query.client_id !== this.clientId) {
      return reply
        .code(400)
        .send({ error: "invalid_request", error_description: "unknown client_id: no app is registered with it" });
    }
    const redirectUri = query.redirect_uri;
    if (!redirectUri || !this.#redirectUriAllowed(redirectUri)) {
      return reply.code(400).send({
        error: "invalid_request",
        error_description: "redirect_uri is missing or does not match a redirect URI registered for this app",
      });
    }
    const callback = new URL(redirectUri);
    const state = query.state;
    const refuse = (error: OAuthErrorCode, description: string) => {
      callback.searchParams.set("error", error);
      callback.searchParams.set("error_description", description);
      if (state !== undefined) callback.searchParams.set("state", state);
      return reply.redirect(callback.href, 302);
    };
    if (query.response_type !== "code") {
      return refuse("unsupported_response_type", 'only response_type "code" is supported');
    }
    const challenge = query.code_challenge;
    if (challenge !== undefined && query.code_challenge_method !== "S256") {
      return refuse("invalid_request", 'only PKCE code_challenge_method "S256" is supported');
    }
    if (request.method === "GET" && wantsPage(request)) return this.#consentPage(request, reply, query.scope);
    if (request.method === "POST" && consentDecision(request.body) !== "approve") {
      return refuse("access_denied", "the person denied the app access");
    }
    const code = randomBytes(24).toString("base64url");
    this.#codes.set(code, {
      clientId: this.clientId,
      redirectUri,
      codeChallenge: challenge,
      expiresAt: this.#options.now() + codeLifetimeMs,
    });
    callback.searchParams.set("code", code);
    if (state !== undefined) callback.searchParams.set("state", state);
    for (const [name, value] of Object.entries(this.#options.callbackParams ?? {})) {
      callback.searchParams.set(name, value);
    }
    return reply.redirect(callback.href, 302);
  }

  /** The page a person sees: the app, what it asks for, and two buttons that post the answer back here. */
  #consentPage(request: FastifyRequest, reply: FastifyReply, scope: string | undefined) {
    const title = this.#options.consentTitle ?? "This sandbox system";
    const scopes = (scope ?? "").split(" ").filter((name) => name !== "");
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorise access · ${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
button{font:inherit;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #555;background:#fff;cursor:pointer}
button[value=approve]{background:#0a6b3b;border-color:#0a6b3b;color:#fff}</style></head>
<body><main><h1>Authorise access to ${escapeHtml(title)}</h1>
<p>The app <code>${escapeHtml(this.clientId.slice(0, 12))}…</code> asks to act on this account${scopes.length > 0 ? ` with: ${scopes.map((name) => `<code>${escapeHtml(name)}</code>`).join(", ")}` : ""}.</p>
<p>This is a sandbox: no real account is involved.</p>
<form method="post" action="${escapeHtml(request.url)}">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></main></body></html>`;
    return reply
      .code(200)
      .header("content-type", "text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .send(html);
  }

  #redirectUriAllowed(uri: string): boolean {
    if (this.#options.redirectUris) return this.#options.redirectUris.includes(uri);
    if (!URL.canParse(uri)) return false;
    const { protocol, hash } = new URL(uri);
    return (protocol === "http:" || protocol === "https:") && hash === "";
  }

  #token(request: FastifyRequest, reply: FastifyReply) {
    // RFC 6749 §5.1: token answers must never be cached.
    reply.header("cache-control", "no-store").header("pragma", "no-cache");
    try {
      const answer = this.#grant(request);
      return reply.code(200).send({ ...answer, ...this.#options.tokenResponseExtras });
    } catch (error) {
      if (!(error instanceof TokenRequestError)) throw error;
      this.#counters.rejectedTokenRequests += 1;
      if (error.status === 401 && this.#options.clientAuth === "basic") {
        reply.header("www-authenticate", 'Basic realm="token"');
      }
      const body = this.#options.errorBody?.(error.code, error.description) ?? {
        error: error.code,
        error_description: error.description,
      };
      return reply.code(error.status).send(body);
    }
  }

  #grant(request: FastifyRequest): Record<string, unknown> {
    const contentType = String(request.headers["content-type"] ?? "");
    if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      throw new TokenRequestError("invalid_request", "the token request must be application/x-www-form-urlencoded");
    }
    const form = (request.body ?? {}) as Record<string, unknown>;
    const clientId = this.#authenticateClient(request, form);
    switch (form.grant_type) {
      case "authorization_code":
        return this.#exchangeCode(clientId, form);
      case "refresh_token":
        return this.#refresh(clientId, form);
      case undefined:
        throw new TokenRequestError("invalid_request", "grant_type is missing");
      default:
        throw new TokenRequestError(
          "unsupported_grant_type",
          `grant_type "${String(form.grant_type)}" is not supported`,
        );
    }
  }

  #authenticateClient(request: FastifyRequest, form: Record<string, unknown>): string {
    const given = this.#options.clientAuth === "basic" ? readBasicAuth(request.headers.authorization) : readPost(form);
    if (!given) {
      const where =
        this.#options.clientAuth === "basic"
          ? "an Authorization: Basic header"
          : "client_id and client_secret in the form body";
      throw new TokenRequestError("invalid_client", `client authentication failed: expected ${where}`, 401);
    }
    if (given.clientId !== this.clientId || !sameSecret(given.clientSecret, this.clientSecret)) {
      throw new TokenRequestError(
        "invalid_client",
        "client authentication failed: unknown client or wrong secret",
        401,
      );
    }
    return given.clientId;
  }

  #exchangeCode(clientId: string, form: Record<string, unknown>): Record<string, unknown> {
    const code = typeof form.code === "string" ? form.code : undefined;
    const issued = code === undefined ? undefined : this.#codes.get(code);
    // Single use (RFC 6749 §4.1.2): the code is spent whether or not the rest of the request is right.
    if (code !== undefined) this.#codes.delete(code);
    if (!issued || issued.clientId !== clientId || issued.expiresAt <= this.#options.now()) {
      throw new TokenRequestError("invalid_grant", "the authorization code is invalid, expired or already used");
    }
    if (form.redirect_uri !== issued.redirectUri) {
      throw new TokenRequestError("invalid_grant", "redirect_uri does not match the one of the authorization request");
    }
    if (issued.codeChallenge !== undefined) {
      const verifier = typeof form.code_verifier === "string" ? form.code_verifier : "";
      if (createHash("sha256").update(verifier).digest("base64url") !== issued.codeChallenge) {
        throw new TokenRequestError("invalid_grant", "the PKCE code_verifier does not match the code_challenge");
      }
    }
    this.#counters.authorizations += 1;
    const refreshToken = this.#issueRefreshToken(clientId, undefined);
    return this.#tokenAnswer(clientId, refreshToken);
  }

  #refresh(clientId: string, form: Record<string, unknown>): Record<string, unknown> {
    const presented = typeof form.refresh_token === "string" ? form.refresh_token : undefined;
    const issued = presented === undefined ? undefined : this.#refreshTokens.get(presented);
    if (presented === undefined || !issued || issued.clientId !== clientId) {
      throw new TokenRequestError("invalid_grant", "the refresh token is invalid, expired or revoked");
    }
    this.#counters.refreshes += 1;
    // Its predecessor was kept only in case this token's answer was lost; this token is in use now.
    if (issued.predecessor !== undefined) {
      this.#refreshTokens.delete(issued.predecessor);
      issued.predecessor = undefined;
    }
    if (!this.#options.rotateRefreshTokens) return this.#tokenAnswer(clientId, presented);
    const pending = issued.successor !== undefined ? this.#refreshTokens.get(issued.successor) : undefined;
    if (pending) return this.#tokenAnswer(clientId, issued.successor as string);
    const successor = this.#issueRefreshToken(clientId, presented);
    issued.successor = successor;
    this.#counters.rotations += 1;
    return this.#tokenAnswer(clientId, successor);
  }

  #issueRefreshToken(clientId: string, predecessor: string | undefined): string {
    const token = this.#options.format.refreshToken();
    this.#refreshTokens.set(token, { clientId, successor: undefined, predecessor });
    return token;
  }

  #tokenAnswer(clientId: string, refreshToken: string): Record<string, unknown> {
    const now = this.#options.now();
    this.#forgetLongExpired(now);
    const accessToken = this.#options.format.accessToken();
    const ttl = this.#options.accessTokenTtlSeconds;
    this.#accessTokens.set(accessToken, { clientId, expiresAt: now + ttl * 1000 });
    this.#counters.accessTokensIssued += 1;
    return { token_type: "bearer", access_token: accessToken, expires_in: ttl, refresh_token: refreshToken };
  }

  #forgetLongExpired(now: number): void {
    if (this.#accessTokens.size < 1000) return;
    for (const [token, issued] of this.#accessTokens) {
      if (issued.expiresAt + rememberExpiredMs < now) this.#accessTokens.delete(token);
    }
  }
}

/** A browser navigating asks for HTML first; fetch() and HTTP clients ask for anything. */
function wantsPage(request: FastifyRequest): boolean {
  return /\btext\/html\b/i.test(request.headers.accept ?? "");
}

/** The button the person pressed on the consent page (a form post, parsed by the sandbox). */
function consentDecision(body: unknown): unknown {
  return typeof body === "object" && body !== null ? (body as Record<string, unknown>).decision : undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded, joined by ":", then base64-encoded. */
function readBasicAuth(header: string | undefined): { clientId: string; clientSecret: string } | undefined {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "")?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  try {
    const formDecode = (part: string) => decodeURIComponent(part.replaceAll("+", " "));
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function readPost(form: Record<string, unknown>): { clientId: string; clientSecret: string } | undefined {
  const { client_id: clientId, client_secret: clientSecret } = form;
  if (typeof clientId !== "string" || typeof clientSecret !== "string") return undefined;
  return { clientId, clientSecret };
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Random characters from `alphabet`, for ids and tokens shaped like a provider's. */
export function randomString(
  length: number,
  alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
): string {
  const bytes = randomBytes(length);
  let text = "";
  for (const byte of bytes) text += alphabet[byte % alphabet.length];
  return text;
}
