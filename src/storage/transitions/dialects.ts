import type Database from "better-sqlite3";
import type pg from "pg";

/** One statement's text for each backend. */
export interface DialectSql {
  readonly sqlite: string;
  readonly postgres: string;
}

/**
 * A statement both backends run as written, but for placeholders: `?` on SQLite, `$1..$n` on PostgreSQL, in
 * order of appearance (a value used twice is passed twice). Numbered once, when the module loads. The text must
 * hold no `?` other than placeholders (outside string literals, which are skipped).
 */
export function inBothDialects(sql: string): DialectSql {
  return { sqlite: sql, postgres: numberPlaceholders(sql) };
}

/**
 * A read the same in both but for PostgreSQL's row lock, which makes concurrent writers of the row take turns. A
 * SQLite write transaction (BEGIN IMMEDIATE) holds the only write lock already, so its reads need none.
 */
export function lockedOnPostgres(sql: string, lock: "FOR UPDATE" | "FOR SHARE"): DialectSql {
  return { sqlite: sql, postgres: `${numberPlaceholders(sql)} ${lock}` };
}

export function numberPlaceholders(sql: string): string {
  let n = 0;
  let numbered = "";
  let inLiteral = false;
  for (const char of sql) {
    if (char === "'") inLiteral = !inLiteral;
    numbered += char === "?" && !inLiteral ? `$${++n}` : char;
  }
  return numbered;
}

/** The prepared SQLite statements a transition uses, by name (SqliteStorage prepares them all at migrate()). */
export type SqliteStatements<K extends string> = { readonly [P in K]: Database.Statement };

/** A PostgreSQL client inside the caller's transaction. */
export type PostgresClient = pg.PoolClient;
