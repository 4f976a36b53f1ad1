import type { ApiRole } from "./operator-store.ts";
import type { DashboardSessionRecord, SessionSource, SignInLinkRecord } from "./session-store.ts";

/** Rows of `dashboard_sessions` and `dashboard_links` as both backends read them (migration 017). */
export const sessionColumns = "id_hash, name, role, source, token_hash, created_at, last_seen_at, expires_at";
export const signInLinkColumns = "code_hash, name, role, created_at, expires_at";

export interface SessionRow {
  id_hash: string;
  name: string;
  role: string;
  source: string;
  token_hash: string | null;
  created_at: number | string;
  last_seen_at: number | string;
  expires_at: number | string;
}

export interface SignInLinkRow {
  code_hash: string;
  name: string;
  role: string;
  created_at: number | string;
  expires_at: number | string;
}

export function toSessionRecord(row: SessionRow): DashboardSessionRecord {
  return {
    idHash: row.id_hash,
    name: row.name,
    role: row.role as ApiRole,
    source: row.source as SessionSource,
    tokenHash: row.token_hash,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
  };
}

export function toSignInLinkRecord(row: SignInLinkRow): SignInLinkRecord {
  return {
    codeHash: row.code_hash,
    name: row.name,
    role: row.role as ApiRole,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}
