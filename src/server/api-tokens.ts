import { createHash, timingSafeEqual } from "node:crypto";
import type { EnvApiToken } from "../config/settings.ts";
import { type ApiRole, type ApiTokenRecord, type OperatorStore, touchIntervalMs } from "../storage/operator-store.ts";

/** Who a request's bearer token (or dashboard session) belongs to. */
export interface ApiPrincipal {
  name: string;
  role: ApiRole;
  /** TENON_API_TOKENS, made with `tenon tokens create`, or a dashboard session opened with a one-time link. */
  source: "env" | "stored" | "link";
}

export interface ApiTokensOptions {
  /** Tokens made with `tenon tokens create`; without it only the configured ones are accepted. */
  store?: OperatorStore;
  /** How long a stored token's lookup (found, revoked or unknown) is reused. Default 5 s: revocation takes effect within it. */
  cacheMs?: number;
  now?: () => number;
  /** A failed `last_used_at` write (it is not awaited by the request). */
  onTouchError?: (error: Error) => void;
}

export const defaultTokenCacheMs = 5000;
/** Beyond this many cached lookups the cache starts again empty, so a flood of made-up tokens cannot grow it. */
const maxCachedLookups = 10_000;

interface CachedLookup {
  principal: ApiPrincipal | null;
  until: number;
}

/**
 * Bearer tokens for the API: those of TENON_API_TOKENS, and those made with `tenon tokens create`.
 *
 * Configured tokens are compared as SHA-256 digests with a constant-time check, so neither the comparison time
 * nor an early exit tells a caller how much of a guess was right. A stored token is looked up by its digest
 * (the only thing stored, through a unique index), and the answer, including "unknown" and "revoked", is
 * cached for `cacheMs`, so a busy client costs one query per token per 5 s, and a revoked token stops working
 * within 5 s in every process. A stored token's last use is written at most once a minute, off the request.
 */
export class ApiTokens {
  readonly #configured: { digest: Buffer; principal: ApiPrincipal }[];
  readonly #store: OperatorStore | undefined;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #onTouchError: (error: Error) => void;
  readonly #lookups = new Map<string, CachedLookup>();
  #anyStored: { value: boolean; until: number } | undefined;

  constructor(tokens: readonly (string | EnvApiToken)[], options: ApiTokensOptions = {}) {
    this.#configured = tokens.map((entry, index) => {
      const token: EnvApiToken =
        typeof entry === "string" ? { name: `env-${index + 1}`, role: "admin", token: entry } : entry;
      return { digest: digest(token.token), principal: { name: token.name, role: token.role, source: "env" } };
    });
    this.#store = options.store;
    this.#cacheMs = options.cacheMs ?? defaultTokenCacheMs;
    this.#now = options.now ?? Date.now;
    this.#onTouchError = options.onTouchError ?? (() => {});
  }

  /**
   * Whether any token can be accepted at all (else the API answers "disabled"): a configured one, or a stored
   * one that is not revoked (cached like lookups).
   */
  async enabled(): Promise<boolean> {
    if (this.#configured.length > 0) return true;
    if (!this.#store) return false;
    const now = this.#now();
    if (!this.#anyStored || this.#anyStored.until <= now) {
      this.#anyStored = { value: await this.#store.hasActiveApiTokens(), until: now + this.#cacheMs };
    }
    return this.#anyStored.value;
  }

  /** The principal of an `Authorization: Bearer <token>` header value; null when there is none or it is unknown or revoked. */
  async authenticate(authorization: string | undefined): Promise<ApiPrincipal | null> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match?.[1]) return null;
    return this.#find(digest(match[1]));
  }

  /**
   * The principal of the token with this hex SHA-256 (what a dashboard session keeps instead of the token), checked
   * as a bearer token is, cache included: a session made with a token that is since revoked, or no longer in
   * TENON_API_TOKENS, is refused within the cache's lifetime. null when unknown, revoked, or not a digest.
   */
  async authenticateDigest(tokenHash: string): Promise<ApiPrincipal | null> {
    if (!/^[0-9a-f]{64}$/.test(tokenHash)) return null;
    return this.#find(Buffer.from(tokenHash, "hex"));
  }

  async #find(candidate: Buffer): Promise<ApiPrincipal | null> {
    let found: ApiPrincipal | null = null;
    for (const known of this.#configured) {
      // Every configured token is compared, whichever matches: the time taken does not depend on which one did.
      if (timingSafeEqual(known.digest, candidate)) found ??= known.principal;
    }
    if (found || !this.#store) return found;
    return this.#lookUp(candidate.toString("hex"));
  }

  async #lookUp(tokenHash: string): Promise<ApiPrincipal | null> {
    const now = this.#now();
    const cached = this.#lookups.get(tokenHash);
    if (cached && cached.until > now) return cached.principal;
    const record = await (this.#store as OperatorStore).findApiToken(tokenHash);
    const principal = record && record.revokedAt === null ? toPrincipal(record) : null;
    if (this.#lookups.size >= maxCachedLookups) this.#lookups.clear();
    this.#lookups.set(tokenHash, { principal, until: now + this.#cacheMs });
    if (record && principal && (record.lastUsedAt === null || record.lastUsedAt < now - touchIntervalMs)) {
      this.#store?.touchApiToken(record.name, now).catch((error: Error) => this.#onTouchError(error));
    }
    return principal;
  }
}

/** Hex SHA-256 of a token: what `api_tokens.token_hash` stores. */
export function apiTokenHash(token: string): string {
  return digest(token).toString("hex");
}

function toPrincipal(record: ApiTokenRecord): ApiPrincipal {
  return { name: record.name, role: record.role, source: "stored" };
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
