import { randomBytes } from "node:crypto";
import { readSettings } from "../../config/settings.ts";
import { ValidationError } from "../../sdk/errors.ts";
import { apiTokenHash, defaultTokenCacheMs } from "../../server/api-tokens.ts";
import type { Storage } from "../../storage/contract.ts";
import { type ApiRole, apiRoles, apiTokenNamePattern, apiTokenNameRule } from "../../storage/operator-store.ts";
import { recordCliAction } from "../cli-operator-log.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { withMigratedStorage } from "../storage-from-settings.ts";

/**
 * `tenon tokens create --role operator --name alice`: makes an API token and prints it, once, alone on stdout (so
 * it can be piped into a secret store); the database keeps only its SHA-256. A name is never reused, even after
 * its token is revoked, so the operator log always means one token.
 */
export async function createTokenCommand(options: { role: string; name: string }): Promise<void> {
  if (!apiRoles.includes(options.role as ApiRole)) {
    throw new ValidationError(`--role is "${options.role}"; choose one of ${apiRoles.join(", ")}`);
  }
  if (!apiTokenNamePattern.test(options.name))
    throw new ValidationError(`--name is "${options.name}"; ${apiTokenNameRule}`);
  const settings = readSettings();
  if (settings.apiTokens.some((token) => token.name === options.name)) {
    throw new ValidationError(`TENON_API_TOKENS already has a token named "${options.name}"; choose another name`);
  }
  // 256 random bits: a plain SHA-256 of it cannot be reversed, so no slow hash is needed to store it.
  const token = `tenon_${randomBytes(32).toString("base64url")}`;
  await withStorage(async (storage) => {
    await storage.operatorAccess.createApiToken({
      name: options.name,
      role: options.role as ApiRole,
      tokenHash: apiTokenHash(token),
      now: Date.now(),
    });
    await recordCliAction(storage, {
      action: "tenon tokens create",
      target: options.name,
      detail: `role ${options.role}`,
    });
  });
  console.log(token);
  console.error(
    `tenon: API token "${options.name}" (${options.role}) created. This is the only time it is shown: store it now. Send it as Authorization: Bearer <token>.`,
  );
}

/** `tenon tokens list`: names, roles and dates; never a token, nor its hash. */
export async function listTokensCommand(): Promise<void> {
  const settings = readSettings();
  await withStorage(async (storage) => {
    const now = Date.now();
    const stored = await storage.operatorAccess.listApiTokens();
    const rows = [
      ...settings.apiTokens.map((token) => [token.name, token.role, "TENON_API_TOKENS", "", "", "active"]),
      ...stored.map((token) => [
        token.name,
        token.role,
        "stored",
        formatLocalTimeWithAge(token.createdAt, now),
        token.lastUsedAt === null ? "never" : formatLocalTimeWithAge(token.lastUsedAt, now),
        token.revokedAt === null ? "active" : `revoked ${formatLocalTimeWithAge(token.revokedAt, now)}`,
      ]),
    ];
    if (rows.length === 0) {
      console.log(
        "no API tokens: the API is disabled. Create one with `tenon tokens create --role <role> --name <name>`.",
      );
      return;
    }
    console.log(formatTable(["NAME", "ROLE", "FROM", "CREATED", "LAST USED (±1 min)", "STATUS"], rows));
  });
}

/** `tenon tokens revoke <name>`: running processes stop accepting it within their lookup cache's lifetime (5 s). */
export async function revokeTokenCommand(name: string): Promise<void> {
  const settings = readSettings();
  if (settings.apiTokens.some((token) => token.name === name)) {
    throw new ValidationError(`"${name}" comes from TENON_API_TOKENS: remove it there and restart Tenon to revoke it`);
  }
  await withStorage(async (storage) => {
    const now = Date.now();
    if (!(await storage.operatorAccess.revokeApiToken(name, now))) {
      const known = (await storage.operatorAccess.listApiTokens()).find((token) => token.name === name);
      throw new ValidationError(
        known ? `API token "${name}" was revoked already` : `no API token named "${name}"; see \`tenon tokens list\``,
      );
    }
    await recordCliAction(storage, { action: "tenon tokens revoke", target: name });
  });
  console.log(
    `API token "${name}" is revoked: running Tenon processes refuse it within ${defaultTokenCacheMs / 1000} s.`,
  );
}

function withStorage(use: (storage: Storage) => Promise<void>): Promise<void> {
  return withMigratedStorage(use, readSettings());
}
