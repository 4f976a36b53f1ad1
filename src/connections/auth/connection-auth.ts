import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { Clock } from "../../runtime/clock.ts";
import { newId } from "../../runtime/ids.ts";
import { LeaseFence } from "../../runtime/lease-fence.ts";
import { AuthError, MissingCredentialError, RetryableError } from "../../sdk/errors.ts";
import { isMissingSecretError, resolveSecret } from "../../sdk/secret-from-env.ts";
import type { ConnectionStatus, ConnectionStore } from "../../storage/connection-store.ts";
import { basicAuthSecret } from "../audit/redact.ts";
import { type AuthConfig, type ConnectionConfig, publicCredentialFields } from "../connection-config.ts";
import type { PreparedRequest } from "../http/http-request.ts";
import { credentialsScope } from "../vault/rotate-master-key.ts";
import { type Vault, VaultError } from "../vault/vault.ts";
import {
  type OAuthExchange,
  type OAuthOptions,
  OAuthRejectedError,
  refreshAccessToken,
  requestClientCredentialsToken,
  type TokenSet,
} from "./oauth2.ts";

export type CredentialFields = Record<string, string>;

export interface ConnectionAuthDeps {
  connectionId: string;
  config: ConnectionConfig;
  store: ConnectionStore;
  vault: Vault;
  clock: Clock;
  logger: Logger;
  /** Token endpoint exchanges, for the audit trail. */
  onTokenExchange: (exchange: OAuthExchange) => void;
}

/** What authenticated one request: a rejected token is refreshed only if nobody has replaced it already. */
export interface AppliedAuth {
  token: string | undefined;
  version: number;
}

/** How long stored credentials and the auth status are trusted before they are read again. */
const trustStoredMs = 5000;
/**
 * How long a refresher holds its claim on the refresh token. It sends and waits only until 3/4 of it, which
 * is longer than the token request's own timeout (30 s): the fence stops only a refresher that stalled.
 */
const refreshClaimMs = 60_000;
/** How often a refresher that found another's claim looks again for its result (or for the claim to lapse). */
const claimRecheckMs = 100;
/** A run whose credential's variable is unset here tries again after this long (perhaps on another worker). */
const missingCredentialRetryMs = 60_000;

/**
 * A connection's credentials and auth status: merges the config's credentials with the stored (sealed)
 * ones, applies the scheme to each request, refreshes OAuth tokens ahead of expiry (one refresh at a
 * time across all workers), and marks the connection auth_failed when its credentials are refused.
 */
export class ConnectionAuth {
  readonly #deps: ConnectionAuthDeps;
  readonly #auth: AuthConfig;
  readonly #skewMs: number;
  #stored: CredentialFields = {};
  #version = 0;
  #status: ConnectionStatus = "active";
  #statusReason: string | null = null;
  #expiresAt: number | null = null;
  #loadedAt = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;
  /** What secretValues() last gave, and what it was made from: the stored credentials and the config's as read. */
  #secretValues:
    | { stored: CredentialFields; configured: (string | undefined | null)[]; values: readonly string[] }
    | undefined;

  constructor(deps: ConnectionAuthDeps, skewMs: number) {
    this.#deps = deps;
    this.#auth = deps.config.auth ?? { type: "none" };
    this.#skewMs = skewMs;
  }

  /**
   * The credentials in use: the stored ones over the config's. A config credential is read from its
   * environment variable only if no stored one replaces it; MissingCredentialError if that is unset.
   */
  get fields(): CredentialFields {
    return this.#merged(true);
  }

  /** One credential, as `fields` would give it, reading no other variable. */
  credential(field: string): string | undefined {
    const found = this.#lookup(field);
    if (typeof found === "object") throw this.#missing(field, found.unsetVariable);
    return found;
  }

  /** The stored value, else the config's; for a config one whose variable is unset, that variable. */
  #lookup(field: string): string | undefined | { unsetVariable: string } {
    if (Object.hasOwn(this.#stored, field)) return this.#stored[field];
    const configured = this.#deps.config.credentials?.[field];
    if (configured === undefined || !Object.hasOwn(this.#deps.config.credentials ?? {}, field)) return undefined;
    try {
      return resolveSecret(configured);
    } catch (error) {
      if (!isMissingSecretError(error)) throw error;
      return { unsetVariable: error.variable };
    }
  }

  /** The merged credentials; `strict` false leaves out those whose variable is unset instead of throwing. */
  #merged(strict: boolean): CredentialFields {
    const fields: CredentialFields = {};
    for (const field of Object.keys(this.#deps.config.credentials ?? {})) {
      const found = this.#lookup(field);
      if (typeof found === "string") fields[field] = found;
      else if (found !== undefined && strict) throw this.#missing(field, found.unsetVariable);
    }
    return { ...fields, ...this.#stored };
  }

  /**
   * Not the connection's failure (another worker may have the variable), so nothing shared is marked: the run
   * waits and tries again. The variable is named, its value never known.
   */
  #missing(field: string, variable: string): MissingCredentialError {
    const { connectionId, clock, logger } = this.#deps;
    const message = `connection "${connectionId}": credentials.${field} is read from the environment variable ${variable}, which is not set in this process; set it and restart Tenon, or store the credential with \`tenon connections set-credentials ${connectionId}\`. Meanwhile runs that need it wait and use no attempt`;
    logger.error({ connectionId, field, variable }, message);
    return new MissingCredentialError(connectionId, clock.now() + missingCredentialRetryMs, message);
  }

  /**
   * Every credential value that must never be shown (for redaction); one whose variable is unset was never known.
   * The same array while the credentials stay the same (asked for by every audited request): a caller may compare it
   * by identity to know whether they changed.
   */
  secretValues(): readonly string[] {
    // The config's credentials as read now (a variable may have been set since): null for one whose variable is unset.
    const configured = Object.keys(this.#deps.config.credentials ?? {}).map((field) => {
      const found = this.#lookup(field);
      return typeof found === "object" ? null : found;
    });
    const cache = this.#secretValues;
    const same =
      cache?.stored === this.#stored &&
      cache.configured.length === configured.length &&
      cache.configured.every((value, i) => value === configured[i]);
    if (cache && same) return cache.values;
    const values = this.#collectSecretValues();
    this.#secretValues = { stored: this.#stored, configured, values };
    return values;
  }

  #collectSecretValues(): string[] {
    const fields = this.#merged(false);
    const values = Object.entries(fields)
      .filter(([name]) => !publicCredentialFields.includes(name))
      .map(([, value]) => value);
    if (fields.username !== undefined && fields.password !== undefined) {
      values.push(basicAuthSecret(fields.username, fields.password));
    }
    if (fields.clientId !== undefined && fields.clientSecret !== undefined) {
      values.push(basicAuthSecret(fields.clientId, fields.clientSecret));
    }
    return values;
  }

  /** Reads the stored credentials and status again if they are older than a few seconds (or `force`). */
  #stale(): boolean {
    return this.#deps.clock.now() - this.#loadedAt >= trustStoredMs;
  }

  async load(force = false): Promise<void> {
    const now = this.#deps.clock.now();
    if (!force && now - this.#loadedAt < trustStoredMs) return;
    const record = await this.#deps.store.getConnection(this.#deps.connectionId);
    this.#loadedAt = now;
    if (!record) return;
    this.#status = record.status;
    this.#statusReason = record.statusReason;
    this.#expiresAt = record.expiresAt;
    if (record.credentialsVersion !== this.#version || record.sealedCredentials === null) {
      this.#stored = record.sealedCredentials
        ? (JSON.parse(
            this.#deps.vault.open(credentialsScope(this.#deps.connectionId), record.sealedCredentials),
          ) as CredentialFields)
        : {};
      this.#version = record.credentialsVersion;
    }
  }

  /** Throws AuthError while the connection is auth_failed (after checking whether someone fixed it). */
  /**
   * Throws AuthError if the connection is auth_failed even after reading its state again. Undefined (nothing to
   * await) when its state was read within the last few seconds and it is usable: the usual request's case.
   */
  assertUsable(): Promise<void> | undefined {
    if (this.#status !== "auth_failed" && !this.#stale()) return undefined;
    return this.#assertUsable();
  }

  async #assertUsable(): Promise<void> {
    await this.load();
    if (this.#status !== "auth_failed") return;
    await this.load(true);
    if (this.#status === "auth_failed") {
      throw new AuthError(
        this.#deps.connectionId,
        `connection "${this.#deps.connectionId}" is auth_failed (${this.#statusReason ?? "credentials rejected"}); update its credentials and the paused runs resume`,
      );
    }
  }

  /** Adds the scheme's credentials to the request. */
  /**
   * Adds the credentials to the request. Synchronous for the static kinds (none, API key, bearer, basic: nothing to
   * await per request); OAuth2 (a token that may need a refresh) and custom signing return a promise.
   */
  apply(request: PreparedRequest): AppliedAuth | Promise<AppliedAuth> {
    const auth = this.#auth;
    switch (auth.type) {
      case "none":
        return { token: undefined, version: this.#version };
      case "apiKey": {
        const key = this.#present("apiKey");
        if (key === undefined) return this.#failMissing("apiKey");
        if (auth.in === "query") request.url.searchParams.set(auth.name, key);
        else request.headers[auth.name.toLowerCase()] = `${auth.prefix ?? ""}${key}`;
        return { token: key, version: this.#version };
      }
      case "bearer": {
        const token = this.#present("token");
        if (token === undefined) return this.#failMissing("token");
        request.headers.authorization = `Bearer ${token}`;
        return { token, version: this.#version };
      }
      case "basic": {
        const username = this.#present("username");
        if (username === undefined) return this.#failMissing("username");
        const password = this.#present("password");
        if (password === undefined) return this.#failMissing("password");
        const secret = basicAuthSecret(username, password);
        request.headers.authorization = `Basic ${secret}`;
        return { token: secret, version: this.#version };
      }
      case "oauth2":
        return this.#applyAccessToken(request);
      case "custom":
        return this.#applySignature(request, auth);
    }
  }

  async #applyAccessToken(request: PreparedRequest): Promise<AppliedAuth> {
    const token = await this.#accessToken();
    request.headers.authorization = `Bearer ${token}`;
    return { token, version: this.#version };
  }

  async #applySignature(request: PreparedRequest, auth: Extract<AuthConfig, { type: "custom" }>): Promise<AppliedAuth> {
    const body = typeof request.body === "string" || request.body instanceof Uint8Array ? request.body : undefined;
    await auth.sign({ method: request.method, url: request.url, headers: request.headers, body }, this.fields);
    return { token: undefined, version: this.#version };
  }

  /**
   * The API refused the credentials a request carried (401/403). Returns true when a retry may succeed:
   * an OAuth token was refreshed, or someone stored new credentials since the request read them.
   */
  async recover(applied: AppliedAuth): Promise<boolean> {
    if (this.#auth.type === "oauth2") {
      await this.#refresh(applied.token, true);
      return true;
    }
    await this.load(true);
    return this.#version !== applied.version;
  }

  /**
   * Marks the connection auth_failed (one incident per failure, however many runs notice) and throws
   * AuthError. `usedVersion` is the credentials version the refused attempt used: if a person stored new
   * credentials since, those are not failed for the old ones' refusal; the request is retried with them.
   */
  async fail(reason: string, usedVersion?: number): Promise<never> {
    const { connectionId, store, clock, logger } = this.#deps;
    const now = clock.now();
    if (await store.markAuthFailed(connectionId, reason, now, usedVersion)) {
      logger.error({ connectionId, reason }, "connection auth_failed: runs that need it are paused");
      await store.recordIncident({ id: newId(), connectionId, kind: "auth_failed", detail: reason, at: now });
    } else if (usedVersion !== undefined) {
      await this.load(true);
      if (this.#status !== "auth_failed" && this.#version !== usedVersion) {
        throw new RetryableError(
          `connection "${connectionId}": new credentials were stored while a request was refused with the old ones; retrying with the new ones`,
          { retryAfterMs: 0 },
        );
      }
    }
    this.#status = "auth_failed";
    this.#statusReason = reason;
    throw new AuthError(
      connectionId,
      `connection "${connectionId}" is auth_failed: ${reason}; update its credentials and the paused runs resume`,
    );
  }

  /**
   * Stores credentials given by a person (CLI, API, OAuth callback): merged over the stored ones
   * (or replacing them), the connection becomes active and its paused runs resume.
   */
  async save(
    fields: CredentialFields,
    options: { expiresAt?: number | null; replace?: boolean } = {},
  ): Promise<number> {
    const { connectionId, store, vault, clock } = this.#deps;
    await this.load(true).catch((error: unknown) => {
      // Replacing needs nothing from the old credentials: if no key opens them (the master key was lost),
      // storing new ones is how the connection is repaired, not a reason to refuse.
      if (!options.replace || !(error instanceof VaultError)) throw error;
    });
    const stored = options.replace ? { ...fields } : { ...this.#stored, ...fields };
    // A new refresh token is a new grant: the old grant's access token may be revoked with it.
    const newGrant = fields.refreshToken !== undefined && fields.accessToken === undefined;
    if (newGrant) delete stored.accessToken;
    const now = clock.now();
    const result = await store.saveCredentials({
      connectionId,
      sealedCredentials: vault.seal(credentialsScope(connectionId), JSON.stringify(stored)),
      expiresAt: options.expiresAt === undefined ? (newGrant ? null : this.#expiresAt) : options.expiresAt,
      restoresAccess: true,
      now,
    });
    if (!result.saved) throw new Error(`credentials of "${connectionId}" changed while saving; try again`);
    if (this.#status === "auth_failed") {
      await store.recordIncident({
        id: newId(),
        connectionId,
        kind: "auth_restored",
        detail: `credentials updated; ${result.resumedRuns} paused run(s) resumed`,
        at: now,
      });
    }
    this.#loadedAt = Number.NEGATIVE_INFINITY;
    await this.load(true);
    return result.resumedRuns;
  }

  /**
   * A credential the scheme needs. Without it the connection is marked auth_failed, so its runs stay paused
   * until someone stores it (an AuthError alone would release them, to be claimed and fail again at once).
   */
  /** A credential the auth kind needs, undefined if there is none (or it is empty). */
  #present(field: string): string | undefined {
    const value = this.credential(field);
    return value === "" ? undefined : value;
  }

  /** The connection cannot authenticate without the credential: it is marked auth_failed. */
  #failMissing(field: string): Promise<never> {
    return this.fail(
      `no "${field}" credential: set it in the config (secretFromEnv) or with \`tenon connections set-credentials ${this.#deps.connectionId}\``,
      this.#version,
    );
  }

  async #accessToken(): Promise<string> {
    await this.load();
    const token = this.#stored.accessToken;
    if (token && !this.#expiresSoon()) return token;
    await this.#refresh(token, false);
    const fresh = this.#stored.accessToken;
    if (!fresh) throw new Error(`connection "${this.#deps.connectionId}": the token refresh stored no access token`);
    return fresh;
  }

  #expiresSoon(): boolean {
    return this.#expiresAt !== null && this.#expiresAt - this.#skewMs <= this.#deps.clock.now();
  }

  /**
   * One refresh per connection at a time: callers in this process share the one in flight, and the
   * storage lock makes other workers wait and then find the new token instead of asking for another.
   */
  #refresh(staleToken: string | undefined, rejected: boolean): Promise<void> {
    this.#refreshing ??= this.#deps.store
      .withRefreshLock(this.#deps.connectionId, () => this.#refreshUnlessDone(staleToken, rejected))
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  /**
   * Under the refresh lock: asks for a token unless someone stored a fresh one meanwhile. The lock can be
   * lost without this worker knowing (PostgreSQL: its connection broke), and another refresher would then
   * read the same refresh token; so the token request is sent only under a claim in storage on the version
   * read. A refresher that finds another's claim waits for its result, or for the claim to lapse.
   */
  async #refreshUnlessDone(staleToken: string | undefined, rejected: boolean): Promise<void> {
    const { connectionId, store, clock } = this.#deps;
    for (let look = 0; ; look++) {
      await this.load(true);
      const current = this.#stored.accessToken;
      if (current && current !== staleToken && !this.#expiresSoon()) return;
      if (!rejected && current && !this.#expiresSoon()) return;
      const claimant = randomUUID();
      const now = clock.now();
      const claim = { connectionId, claimant, expectedVersion: this.#version, now, until: now + refreshClaimMs };
      if (await store.claimTokenRefresh(claim)) return this.#obtainTokenUnderClaim(claimant, now);
      if (look * claimRecheckMs > refreshClaimMs) {
        throw new RetryableError(
          `connection "${connectionId}": another worker's token refresh has held its claim for over ${refreshClaimMs / 1000} s; the request will be retried`,
        );
      }
      await sleep(claimRecheckMs);
    }
  }

  /**
   * Sends the token request under this worker's view of its claim (taken at `claimedAt`): not sent once
   * the claim may have lapsed, aborted if still in flight then. Its result is stored whenever it comes, by
   * compare-and-set on the version it was asked for: once the token endpoint answered, the refresh token it
   * was sent is spent, and the answer holds the only valid one; the version check keeps it from replacing
   * anything stored since.
   */
  async #obtainTokenUnderClaim(claimant: string, claimedAt: number): Promise<void> {
    const { connectionId, store, clock } = this.#deps;
    const heldFor = refreshClaimMs - Math.floor(refreshClaimMs / 4);
    const fence = new LeaseFence(clock, claimedAt + heldFor, {
      on: `the token refresh of connection "${connectionId}"`,
      lapsesWhen: `the token endpoint did not answer within ${heldFor / 1000} s, or the process stalled`,
    });
    let unanswered = false;
    const options: OAuthOptions = {
      now: () => clock.now(),
      signal: () => fence.signal,
      onExchange: (exchange) => {
        unanswered = exchange.status === null;
        this.#deps.onTokenExchange(exchange);
      },
    };
    try {
      await this.#obtainToken(options);
    } catch (error) {
      // A request that got no answer may still be spending the refresh token at the provider: its claim
      // runs out on its own. Otherwise the endpoint is done with it, and nobody need wait.
      if (!unanswered) await store.releaseTokenRefresh(connectionId, claimant).catch(() => {});
      throw error;
    } finally {
      fence.close();
    }
  }

  async #obtainToken(options: OAuthOptions): Promise<void> {
    const auth = this.#auth;
    if (auth.type !== "oauth2") return;
    const { connectionId, store, vault, clock } = this.#deps;
    const clientId = this.#present("clientId") ?? (await this.#failMissing("clientId"));
    const clientSecret = this.#present("clientSecret") ?? (await this.#failMissing("clientSecret"));
    const client = { clientId, clientSecret };
    let tokens: TokenSet;
    try {
      if (auth.grant === "client_credentials") {
        tokens = await requestClientCredentialsToken(auth, client, options);
      } else {
        const refreshToken = this.credential("refreshToken");
        if (!refreshToken) {
          return await this.fail(`not authorised yet: open /oauth/${connectionId}/start to authorise Tenon`);
        }
        tokens = await refreshAccessToken(auth, client, refreshToken, options);
      }
    } catch (error) {
      if (error instanceof OAuthRejectedError) {
        return await this.fail(`the token endpoint refused the credentials (${error.oauthError})`, this.#version);
      }
      throw error;
    }
    const stored: CredentialFields = { ...this.#stored, accessToken: tokens.accessToken };
    // Rotation: the new refresh token replaces the old in the same write, or the next refresh would use a dead one.
    if (tokens.refreshToken !== undefined) stored.refreshToken = tokens.refreshToken;
    const result = await store.saveCredentials({
      connectionId,
      sealedCredentials: vault.seal(credentialsScope(connectionId), JSON.stringify(stored)),
      expiresAt: tokens.expiresAt,
      expectedVersion: this.#version,
      restoresAccess: false,
      now: clock.now(),
    });
    if (!result.saved) {
      // A person stored new credentials meanwhile; theirs win, and the next request uses them.
      await this.load(true);
      return;
    }
    this.#stored = stored;
    this.#version = result.version;
    this.#expiresAt = tokens.expiresAt;
  }
}
