import type Database from "better-sqlite3";
import {
  type SessionRow,
  type SignInLinkRow,
  sessionColumns,
  signInLinkColumns,
  toSessionRecord,
  toSignInLinkRecord,
} from "../session-rows.ts";
import type { DashboardSessionRecord, SessionStore, SignInLinkRecord } from "../session-store.ts";

/** Every dashboard-session query on SQLite, as SQL in full. */
export const sqliteSessionSql = {
  /** dashboard_sessions_expiry (expires_at). */
  pruneSessions: "DELETE FROM dashboard_sessions WHERE expires_at <= ?",
  createSession: `INSERT INTO dashboard_sessions (${sessionColumns})
    VALUES (@idHash, @name, @role, @source, @tokenHash, @createdAt, @lastSeenAt, @expiresAt)`,
  findSession: `SELECT ${sessionColumns} FROM dashboard_sessions WHERE id_hash = ? AND expires_at > ?`,
  touchSession: "UPDATE dashboard_sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?",
  deleteSession: "DELETE FROM dashboard_sessions WHERE id_hash = ?",
  pruneLinks: "DELETE FROM dashboard_links WHERE expires_at <= ?",
  createLink: `INSERT INTO dashboard_links (${signInLinkColumns})
    VALUES (@codeHash, @name, @role, @createdAt, @expiresAt)`,
  /** Deleted whether or not it expired: either way it can never be used again. */
  consumeLink: `DELETE FROM dashboard_links WHERE code_hash = ? RETURNING ${signInLinkColumns}`,
};

type Statements = { [K in keyof typeof sqliteSessionSql]: Database.Statement };

export interface SqliteSessionsDeps {
  /** A write transaction that resolves once it is on disk. */
  durably<T>(fn: () => T): Promise<T>;
}

/**
 * Dashboard sessions and sign-in links on SQLite. Signing in, out and using a link are synced to disk: a
 * sign-out or a used link that a power cut undid would bring a session or a link back.
 * Statements are prepared on first use, after migrations ran.
 */
export class SqliteSessions implements SessionStore {
  readonly #db: Database.Database;
  readonly #deps: SqliteSessionsDeps;
  #statements: Statements | undefined;

  constructor(db: Database.Database, deps: SqliteSessionsDeps) {
    this.#db = db;
    this.#deps = deps;
  }

  get #sql(): Statements {
    this.#statements ??= Object.fromEntries(
      Object.entries(sqliteSessionSql).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
    return this.#statements;
  }

  async createSession(session: DashboardSessionRecord): Promise<void> {
    await this.#deps.durably(() => {
      this.#sql.pruneSessions.run(session.createdAt);
      this.#sql.createSession.run(session);
    });
  }

  async findSession(idHash: string, now: number): Promise<DashboardSessionRecord | null> {
    const row = this.#sql.findSession.get(idHash, now) as SessionRow | undefined;
    return row ? toSessionRecord(row) : null;
  }

  async touchSession(idHash: string, lastSeenAt: number, expiresAt: number): Promise<void> {
    this.#sql.touchSession.run(lastSeenAt, expiresAt, idHash);
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return this.#deps.durably(() => this.#sql.deleteSession.run(idHash).changes === 1);
  }

  async createSignInLink(link: SignInLinkRecord): Promise<void> {
    await this.#deps.durably(() => {
      this.#sql.pruneLinks.run(link.createdAt);
      this.#sql.createLink.run(link);
    });
  }

  async consumeSignInLink(codeHash: string, now: number): Promise<SignInLinkRecord | null> {
    const row = await this.#deps.durably(() => this.#sql.consumeLink.get(codeHash) as SignInLinkRow | undefined);
    return row && Number(row.expires_at) > now ? toSignInLinkRecord(row) : null;
  }
}
