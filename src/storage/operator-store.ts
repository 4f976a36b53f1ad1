/**
 * The part of the storage contract that operator access needs: the API tokens made with `tenon tokens create`
 * (only their SHA-256 digest is stored; the token itself is shown once and never kept), and the operator log
 * of what people did through the API and the CLI. Both backends implement it
 * (`sqlite/sqlite-operator-access.ts`, `postgres/postgres-operator-access.ts`).
 *
 * Times are epoch milliseconds.
 */

export type ApiRole = "viewer" | "operator" | "admin";

/** Each role can do what the ones before it can. */
export const apiRoles: readonly ApiRole[] = ["viewer", "operator", "admin"];

/** What a token's name may be (its name is how the operator log and a run's history say who acted). */
export const apiTokenNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const apiTokenNameRule = 'a name is 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit';

/** A token's last_used_at is written at most this often: it is that precise, and busy tokens cost no write per request. */
export const touchIntervalMs = 60_000;

export interface ApiTokenRecord {
  name: string;
  role: ApiRole;
  /** Hex SHA-256 of the token. */
  tokenHash: string;
  createdAt: number;
  revokedAt: number | null;
  /** Updated at most about once a minute per token (see ApiTokens), so it is that precise. */
  lastUsedAt: number | null;
}

export interface NewApiToken {
  name: string;
  role: ApiRole;
  tokenHash: string;
  now: number;
}

export interface OperatorAction {
  at: number;
  /** The token's name, or the OS user who ran the CLI. */
  actor: string;
  /** The token's role; null for the CLI. */
  role: ApiRole | null;
  via: "api" | "cli";
  /** `POST /api/runs/:id/replay` (the route pattern, not the URL), or a CLI command such as `tenon replay`. */
  action: string;
  /** The id acted on (a run, an event, a connection), when there is one. */
  target: string | null;
  /** The HTTP status answered; null for the CLI. */
  status: number | null;
  /** The client's address; null for the CLI. */
  ip: string | null;
  /** What happened beyond the status (a bulk replay's counts, a CLI error). Never a secret. */
  detail: string | null;
}

export interface OperatorLogEntry extends OperatorAction {
  seq: number;
}

export interface OperatorLogFilter {
  /** Only entries at or after this time. */
  since?: number;
  /** Keyset cursor: entries strictly older than this one (newest first). */
  before?: { at: number; seq: number };
  limit: number;
}

export interface OperatorStore {
  /** Stores a new token; throws a ValidationError when the name was ever used (revoked names are not reused). */
  createApiToken(token: NewApiToken): Promise<ApiTokenRecord>;
  /** The token with this digest, revoked or not; null if none. One indexed lookup. */
  findApiToken(tokenHash: string): Promise<ApiTokenRecord | null>;
  /** Every token, oldest first. */
  listApiTokens(): Promise<ApiTokenRecord[]>;
  /** Whether any token is not revoked: without one (and no TENON_API_TOKENS) the API is disabled. */
  hasActiveApiTokens(): Promise<boolean>;
  /** Marks it revoked; false when no token has that name or it was revoked already. */
  revokeApiToken(name: string, now: number): Promise<boolean>;
  /** Records a use; the write is skipped when the stored time is already `now - 60 s` or later. */
  touchApiToken(name: string, now: number): Promise<void>;
  /** Appends one entry to the operator log, durably. */
  recordOperatorAction(action: OperatorAction): Promise<void>;
  /** Entries newest first. */
  listOperatorLog(filter: OperatorLogFilter): Promise<OperatorLogEntry[]>;
}

/** How a run's history names who replayed it (`run_history.actor`): `api:alice`, `cli:bob`. */
export function replayActor(via: OperatorAction["via"], name: string): string {
  return `${via}:${name}`;
}

/** A stored actor for people: "alice (API token)", "bob (CLI)". */
export function describeReplayActor(actor: string): string {
  const [via, ...name] = actor.split(":");
  const who = name.join(":");
  if (via === "api") return `${who} (API token)`;
  if (via === "cli") return `${who} (CLI)`;
  return actor;
}
