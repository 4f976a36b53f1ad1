import { ValidationError } from "../sdk/errors.ts";
import type { ApiRole, ApiTokenRecord, OperatorLogEntry } from "./operator-store.ts";

export { touchIntervalMs } from "./operator-store.ts";

/** Rows of `api_tokens` and `operator_log` as both backends read them (migration 011). */
export const apiTokenColumns = "name, role, token_hash, created_at, revoked_at, last_used_at";
export const operatorLogColumns = "seq, at, actor, role, via, action, target, status, ip, detail";

export interface ApiTokenRow {
  name: string;
  role: string;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface OperatorLogRow {
  seq: number;
  at: number;
  actor: string;
  role: string | null;
  via: string;
  action: string;
  target: string | null;
  status: number | null;
  ip: string | null;
  detail: string | null;
}

export function toApiTokenRecord(row: ApiTokenRow): ApiTokenRecord {
  return {
    name: row.name,
    role: row.role as ApiRole,
    tokenHash: row.token_hash,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
  };
}

export function toOperatorLogEntry(row: OperatorLogRow): OperatorLogEntry {
  return {
    seq: Number(row.seq),
    at: Number(row.at),
    actor: row.actor,
    role: row.role as ApiRole | null,
    via: row.via as OperatorLogEntry["via"],
    action: row.action,
    target: row.target,
    status: row.status,
    ip: row.ip,
    detail: row.detail,
  };
}

export function tokenNameTaken(name: string): ValidationError {
  return new ValidationError(
    `an API token named "${name}" exists already (or existed: revoked names are not reused, so the operator log always means one token); choose another name`,
  );
}
