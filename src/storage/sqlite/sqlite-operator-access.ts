import type Database from "better-sqlite3";
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

/** Every operator-access query on SQLite, as SQL in full. */
export const sqliteOperatorSql = {
  createApiToken: `INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (name) DO NOTHING`,
  findApiToken: `SELECT ${apiTokenColumns} FROM api_tokens WHERE token_hash = ?`,
  listApiTokens: `SELECT ${apiTokenColumns} FROM api_tokens ORDER BY created_at, name`,
  hasActiveApiTokens: "SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1",
  revokeApiToken: "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
  touchApiToken: `UPDATE api_tokens SET last_used_at = @now
    WHERE name = @name AND (last_used_at IS NULL OR last_used_at < @now - ${touchIntervalMs})`,
  recordOperatorAction: `INSERT INTO operator_log (at, actor, role, via, action, target, status, ip, detail)
    VALUES (@at, @actor, @role, @via, @action, @target, @status, @ip, @detail)`,
  /** Newest first; (at, seq) is the index's order, so a page is an index range scan whatever the filters. */
  listOperatorLog: `SELECT ${operatorLogColumns} FROM operator_log
    WHERE at >= @since AND (at, seq) < (@beforeAt, @beforeSeq)
    ORDER BY at DESC, seq DESC LIMIT @limit`,
};

type Statements = { [K in keyof typeof sqliteOperatorSql]: Database.Statement };

export interface SqliteOperatorAccessDeps {
  /** A write transaction that resolves once it is on disk. */
  durably<T>(fn: () => T): Promise<T>;
}

/** API tokens and the operator log on SQLite. Statements are prepared on first use, after migrations ran. */
export class SqliteOperatorAccess implements OperatorStore {
  readonly #db: Database.Database;
  readonly #deps: SqliteOperatorAccessDeps;
  #statements: Statements | undefined;

  constructor(db: Database.Database, deps: SqliteOperatorAccessDeps) {
    this.#db = db;
    this.#deps = deps;
  }

  get #sql(): Statements {
    this.#statements ??= Object.fromEntries(
      Object.entries(sqliteOperatorSql).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
    return this.#statements;
  }

  async createApiToken(token: NewApiToken): Promise<ApiTokenRecord> {
    const created = await this.#deps.durably(
      () => this.#sql.createApiToken.run(token.name, token.role, token.tokenHash, token.now).changes,
    );
    if (created === 0) throw tokenNameTaken(token.name);
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
    const row = this.#sql.findApiToken.get(tokenHash) as ApiTokenRow | undefined;
    return row ? toApiTokenRecord(row) : null;
  }

  async listApiTokens(): Promise<ApiTokenRecord[]> {
    return (this.#sql.listApiTokens.all() as ApiTokenRow[]).map(toApiTokenRecord);
  }

  async hasActiveApiTokens(): Promise<boolean> {
    return this.#sql.hasActiveApiTokens.get() !== undefined;
  }

  async revokeApiToken(name: string, now: number): Promise<boolean> {
    return this.#deps.durably(() => this.#sql.revokeApiToken.run(now, name).changes === 1);
  }

  async touchApiToken(name: string, now: number): Promise<void> {
    // Not synced: losing a "last used" time in a power cut harms nothing.
    this.#sql.touchApiToken.run({ name, now });
  }

  async recordOperatorAction(action: OperatorAction): Promise<void> {
    await this.#deps.durably(() => this.#sql.recordOperatorAction.run(action));
  }

  async listOperatorLog(filter: OperatorLogFilter): Promise<OperatorLogEntry[]> {
    const rows = this.#sql.listOperatorLog.all({
      since: filter.since ?? 0,
      beforeAt: filter.before?.at ?? Number.MAX_SAFE_INTEGER,
      beforeSeq: filter.before?.seq ?? Number.MAX_SAFE_INTEGER,
      limit: filter.limit,
    }) as OperatorLogRow[];
    return rows.map(toOperatorLogEntry);
  }
}
