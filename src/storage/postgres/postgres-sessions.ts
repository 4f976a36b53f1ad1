import type pg from "pg";
import {
  type SessionRow,
  type SignInLinkRow,
  sessionColumns,
  signInLinkColumns,
  toSessionRecord,
  toSignInLinkRecord,
} from "../session-rows.ts";
import type { DashboardSessionRecord, SessionStore, SignInLinkRecord } from "../session-store.ts";

/** Every dashboard-session query on PostgreSQL, as SQL in full. Each is one statement, so no transaction is needed. */
export const postgresSessionSql = {
  /** Prunes the expired sessions (dashboard_sessions_expiry) in the statement that adds the new one. */
  createSession: `WITH pruned AS (DELETE FROM dashboard_sessions WHERE expires_at <= $6)
    INSERT INTO dashboard_sessions (${sessionColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  findSession: `SELECT ${sessionColumns} FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2`,
  touchSession: "UPDATE dashboard_sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1",
  deleteSession: "DELETE FROM dashboard_sessions WHERE id_hash = $1",
  createLink: `WITH pruned AS (DELETE FROM dashboard_links WHERE expires_at <= $4)
    INSERT INTO dashboard_links (${signInLinkColumns}) VALUES ($1, $2, $3, $4, $5)`,
  /** Deleted whether or not it expired: either way it can never be used again. */
  consumeLink: `DELETE FROM dashboard_links WHERE code_hash = $1 RETURNING ${signInLinkColumns}`,
};

const q = postgresSessionSql;

/** Dashboard sessions and sign-in links on PostgreSQL. */
export class PostgresSessions implements SessionStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async createSession(session: DashboardSessionRecord): Promise<void> {
    await this.#pool.query(q.createSession, [
      session.idHash,
      session.name,
      session.role,
      session.source,
      session.tokenHash,
      session.createdAt,
      session.lastSeenAt,
      session.expiresAt,
    ]);
  }

  async findSession(idHash: string, now: number): Promise<DashboardSessionRecord | null> {
    const { rows } = await this.#pool.query<SessionRow>({
      name: "tenon_find_dashboard_session",
      text: q.findSession,
      values: [idHash, now],
    });
    return rows[0] ? toSessionRecord(rows[0]) : null;
  }

  async touchSession(idHash: string, lastSeenAt: number, expiresAt: number): Promise<void> {
    await this.#pool.query(q.touchSession, [idHash, lastSeenAt, expiresAt]);
  }

  async deleteSession(idHash: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(q.deleteSession, [idHash]);
    return rowCount === 1;
  }

  async createSignInLink(link: SignInLinkRecord): Promise<void> {
    await this.#pool.query(q.createLink, [link.codeHash, link.name, link.role, link.createdAt, link.expiresAt]);
  }

  async consumeSignInLink(codeHash: string, now: number): Promise<SignInLinkRecord | null> {
    const { rows } = await this.#pool.query<SignInLinkRow>(q.consumeLink, [codeHash]);
    const row = rows[0];
    return row && Number(row.expires_at) > now ? toSignInLinkRecord(row) : null;
  }
}
