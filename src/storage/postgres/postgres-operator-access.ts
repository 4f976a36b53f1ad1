import type pg from "pg";
import {
  type ApiTokenRow,
  apiTokenColumns,
  type OperatorLogRow,
  operatorLogColumns,
  toApiTokenRecord,
  tokenNameTaken,
  toOperatorLogEntry,
  touchIntervalMs,
} from "../operator-rows.ts";
import type {
  ApiTokenRecord,
  NewApiToken,
  OperatorAction,
  OperatorLogEntry,
  OperatorLogFilter,
  OperatorStore,
} from "../operator-store.ts";

/** Every operator-access query on PostgreSQL, as SQL in full. Each is one statement, so no transaction is needed. */
export const postgresOperatorSql = {
  createApiToken: `INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (name) DO NOTHING`,
  findApiToken: `SELECT ${apiTokenColumns} FROM api_tokens WHERE token_hash = $1`,
  listApiTokens: `SELECT ${apiTokenColumns} FROM api_tokens ORDER BY created_at, name`,
  hasActiveApiTokens: "SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1",
  revokeApiToken: "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
  touchApiToken: `UPDATE api_tokens SET last_used_at = $2
    WHERE name = $1 AND (last_used_at IS NULL OR last_used_at < $2::bigint - ${touchIntervalMs})`,
  recordOperatorAction: `INSERT INTO operator_log (at, actor, role, via, action, target, status, ip, detail)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  /** Newest first; (at, seq) is the index's order, so a page is an index range scan whatever the filters. */
  listOperatorLog: `SELECT ${operatorLogColumns} FROM operator_log
    WHERE at >= $1 AND (at, seq) < ($2::bigint, $3::bigint)
    ORDER BY at DESC, seq DESC LIMIT $4`,
};

const q = postgresOperatorSql;

/** API tokens and the operator log on PostgreSQL. */
export class PostgresOperatorAccess implements OperatorStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async createApiToken(token: NewApiToken): Promise<ApiTokenRecord> {
    const { rowCount } = await this.#pool.query(q.createApiToken, [token.name, token.role, token.tokenHash, token.now]);
    if (rowCount === 0) throw tokenNameTaken(token.name);
    return {
      name: token.name,
      role: token.role,
      tokenHash: token.tokenHash,
      createdAt: token.now,
      revokedAt: null,
      lastUsedAt: null,
    };
  }

  async findApiToken(tokenHash: string): Promise<ApiTokenRecord | null> {
    const { rows } = await this.#pool.query<ApiTokenRow>({
      name: "tenon_find_api_token",
      text: q.findApiToken,
      values: [tokenHash],
    });
    return rows[0] ? toApiTokenRecord(rows[0]) : null;
  }

  async listApiTokens(): Promise<ApiTokenRecord[]> {
    const { rows } = await this.#pool.query<ApiTokenRow>(q.listApiTokens);
    return rows.map(toApiTokenRecord);
  }

  async hasActiveApiTokens(): Promise<boolean> {
    const { rowCount } = await this.#pool.query(q.hasActiveApiTokens);
    return (rowCount ?? 0) > 0;
  }

  async revokeApiToken(name: string, now: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(q.revokeApiToken, [name, now]);
    return rowCount === 1;
  }

  async touchApiToken(name: string, now: number): Promise<void> {
    await this.#pool.query(q.touchApiToken, [name, now]);
  }

  async recordOperatorAction(action: OperatorAction): Promise<void> {
    await this.#pool.query(q.recordOperatorAction, [
      action.at,
      action.actor,
      action.role,
      action.via,
      action.action,
      action.target,
      action.status,
      action.ip,
      action.detail,
    ]);
  }

  async listOperatorLog(filter: OperatorLogFilter): Promise<OperatorLogEntry[]> {
    const { rows } = await this.#pool.query<OperatorLogRow>(q.listOperatorLog, [
      filter.since ?? 0,
      filter.before?.at ?? Number.MAX_SAFE_INTEGER,
      filter.before?.seq ?? Number.MAX_SAFE_INTEGER,
      filter.limit,
    ]);
    return rows.map(toOperatorLogEntry);
  }
}
