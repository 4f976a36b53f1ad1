import type { ApiRole } from "./operator-store.ts";

/**
 * The part of the storage contract that dashboard sign-in needs: browser sessions and one-time sign-in links,
 * each stored only as the SHA-256 of its secret (migration 017). Both backends implement it
 * (`sqlite/sqlite-sessions.ts`, `postgres/postgres-sessions.ts`); the rules (lifetimes, CSRF, who a session
 * is) are src/server/dashboard-sessions.ts's.
 *
 * Times are epoch milliseconds.
 */

/** Where a session's principal comes from: an API token (configured or stored), or a one-time link. */
export type SessionSource = "env" | "stored" | "link";

export interface DashboardSessionRecord {
  /** Hex SHA-256 of the session id (the cookie's value). */
  idHash: string;
  name: string;
  role: ApiRole;
  source: SessionSource;
  /** Hex SHA-256 of the API token it was made with; null for a link session. */
  tokenHash: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

export interface SignInLinkRecord {
  /** Hex SHA-256 of the one-time code. */
  codeHash: string;
  /** Who the session it opens acts as, and with which role. */
  name: string;
  role: ApiRole;
  createdAt: number;
  expiresAt: number;
}

export interface SessionStore {
  /** Stores a new session, and deletes every session expired by its `createdAt`. */
  createSession(session: DashboardSessionRecord): Promise<void>;
  /** The session with this digest, unless it has expired by `now`; null otherwise. One indexed lookup. */
  findSession(idHash: string, now: number): Promise<DashboardSessionRecord | null>;
  /** Records a use: `lastSeenAt` and the expiry it moves to. Not synced to disk: losing one only ends a session sooner. */
  touchSession(idHash: string, lastSeenAt: number, expiresAt: number): Promise<void>;
  /** Ends it (signing out); false when there was no such session. */
  deleteSession(idHash: string): Promise<boolean>;
  /** Stores a one-time link, and deletes every link expired by its `createdAt`. */
  createSignInLink(link: SignInLinkRecord): Promise<void>;
  /**
   * Uses the link up: deletes it and answers it if it had not expired by `now`; null when it is unknown, used
   * or expired. One statement, so two requests (or workers) opening the same link at once cannot both get it.
   */
  consumeSignInLink(codeHash: string, now: number): Promise<SignInLinkRecord | null>;
}
