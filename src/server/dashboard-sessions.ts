import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiRole } from "../storage/operator-store.ts";
import type { DashboardSessionRecord, SessionStore } from "../storage/session-store.ts";
import { type ApiPrincipal, type ApiTokens, apiTokenHash } from "./api-tokens.ts";

/** The cookie that carries a session id: httpOnly, so the page's scripts never see it. */
export const sessionCookieName = "tenon_session";
/** A session unused this long ends (it slides: each use moves the end on, at most once a minute). */
export const sessionIdleMs = 12 * 60 * 60 * 1000;
/** However busy, a session ends this long after sign-in. */
export const sessionLifetimeMs = 7 * 24 * 60 * 60 * 1000;
/** How often a session's use is written (its idle limit is that precise). */
export const sessionTouchIntervalMs = 60_000;
/** How long a one-time sign-in link stays valid. */
export const signInLinkTtlMs = 10 * 60 * 1000;

/** A session as a request sees it: who it is and the CSRF token its mutating calls must carry. */
export interface ActiveSession {
  principal: ApiPrincipal;
  csrfToken: string;
  /** When it ends if unused (the earlier of the idle and absolute limits), epoch ms. */
  expiresAt: number;
}

/** A session just made: `id` is the cookie's value, given to the browser once and stored only as a digest. */
export interface NewSession extends ActiveSession {
  id: string;
}

export interface DashboardSessionsOptions {
  store: SessionStore;
  /** The API's tokens: a token session is checked against its token on every request. */
  tokens: ApiTokens;
  now: () => number;
  /** A failed write of a session's last use (the request goes on). */
  onTouchError?: (error: Error) => void;
}

/**
 * Browser sessions for the dashboard. Signing in with an API token (or a one-time link) makes a session whose
 * id, 256 random bits, travels only in an httpOnly cookie and is stored only as its SHA-256. A token session
 * keeps the token's digest and is re-authenticated through ApiTokens on every use, so it is exactly as valid
 * as its token (revoked: refused within the token cache's 5 s) and has the token's current role. A link
 * session carries the name and role the link was made for.
 *
 * The CSRF token is derived from the session id (a digest under another label), so it is never stored, cannot
 * be computed from anything stored, and is the same for the session's whole life: the page reads it from
 * `GET /auth/session`, which another site's page cannot read.
 */
export class DashboardSessions {
  readonly #store: SessionStore;
  readonly #tokens: ApiTokens;
  readonly #now: () => number;
  readonly #onTouchError: (error: Error) => void;

  constructor(options: DashboardSessionsOptions) {
    this.#store = options.store;
    this.#tokens = options.tokens;
    this.#now = options.now;
    this.#onTouchError = options.onTouchError ?? (() => {});
  }

  /** A session for the holder of this API token; null when the token is unknown or revoked. */
  async signInWithToken(token: string): Promise<NewSession | null> {
    const tokenHash = apiTokenHash(token);
    const principal = await this.#tokens.authenticateDigest(tokenHash);
    if (!principal) return null;
    return this.#create(principal, tokenHash);
  }

  /** A session for the one-time link with this code, which is used up; null when unknown, used or expired. */
  async signInWithLink(code: string): Promise<NewSession | null> {
    if (!isSecretShaped(code)) return null;
    const link = await this.#store.consumeSignInLink(digestHex(code), this.#now());
    if (!link) return null;
    return this.#create({ name: link.name, role: link.role, source: "link" }, null);
  }

  /**
   * The session a cookie's value opens; null when there is none, it expired, was signed out, or its token no
   * longer authenticates. A use moves its idle limit on (written at most once a minute).
   */
  async authenticate(sessionId: string | undefined): Promise<ActiveSession | null> {
    if (sessionId === undefined || !isSecretShaped(sessionId)) return null;
    const now = this.#now();
    const idHash = digestHex(sessionId);
    const record = await this.#store.findSession(idHash, now);
    if (!record) return null;
    const principal =
      record.tokenHash === null
        ? { name: record.name, role: record.role, source: "link" as const }
        : await this.#tokens.authenticateDigest(record.tokenHash);
    if (!principal) return null;
    let expiresAt = record.expiresAt;
    if (now - record.lastSeenAt >= sessionTouchIntervalMs) {
      expiresAt = slidingExpiry(record.createdAt, now);
      await this.#store.touchSession(idHash, now, expiresAt).catch((error: Error) => this.#onTouchError(error));
    }
    return {
      principal,
      csrfToken: csrfTokenOf(sessionId),
      expiresAt,
    };
  }

  /** Ends the session (signing out); false when there was none. */
  async signOut(sessionId: string): Promise<boolean> {
    if (!isSecretShaped(sessionId)) return false;
    return this.#store.deleteSession(digestHex(sessionId));
  }

  async #create(principal: ApiPrincipal, tokenHash: string | null): Promise<NewSession> {
    const now = this.#now();
    const id = newSecret();
    const record: DashboardSessionRecord = {
      idHash: digestHex(id),
      name: principal.name,
      role: principal.role,
      source: principal.source,
      tokenHash,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: slidingExpiry(now, now),
    };
    await this.#store.createSession(record);
    return {
      id,
      principal,
      csrfToken: csrfTokenOf(id),
      expiresAt: record.expiresAt,
    };
  }
}

/**
 * Whether `header` (the request's `x-csrf-token`) is the session's CSRF token, compared as digests in constant
 * time, so neither the time taken nor a length check tells a guesser anything.
 */
export function csrfTokenMatches(session: ActiveSession, header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  return timingSafeEqual(
    createHash("sha256").update(header).digest(),
    createHash("sha256").update(session.csrfToken).digest(),
  );
}

/**
 * Makes a one-time sign-in link for `name` with `role` and answers its code (to put in `/auth/link?code=`): stored
 * as a digest, valid once, for 10 minutes. `tenon dashboard-link`, `tenon dev` and the demo use it.
 */
export async function createSignInLink(
  store: SessionStore,
  link: { name: string; role: ApiRole; now: number },
): Promise<string> {
  const code = newSecret();
  await store.createSignInLink({
    codeHash: digestHex(code),
    name: link.name,
    role: link.role,
    createdAt: link.now,
    expiresAt: link.now + signInLinkTtlMs,
  });
  return code;
}

function slidingExpiry(createdAt: number, now: number): number {
  return Math.min(now + sessionIdleMs, createdAt + sessionLifetimeMs);
}

/** 256 random bits, base64url: a session id or a link's code. A digest of it cannot be guessed back. */
function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** What newSecret makes (43 base64url characters): anything else is refused before storage is asked. */
function isSecretShaped(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(value);
}

function digestHex(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function csrfTokenOf(sessionId: string): string {
  return createHash("sha256").update(`tenon-csrf:${sessionId}`).digest("base64url");
}

/** The URL of a one-time sign-in link on the server at `baseUrl` (`http://127.0.0.1:3000`, or TENON_PUBLIC_URL). */
export function signInLinkUrl(baseUrl: string, code: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/auth/link?code=${code}`;
}
