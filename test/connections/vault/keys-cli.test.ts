import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateMasterKey, loadKeyring, type MasterKey } from "../../../src/connections/vault/master-key.ts";
import { credentialsScope } from "../../../src/connections/vault/rotate-master-key.ts";
import { Vault } from "../../../src/connections/vault/vault.ts";
import { SqliteStorage } from "../../../src/storage/sqlite/sqlite-storage.ts";

const tenon = fileURLToPath(new URL("../../../bin/tenon.js", import.meta.url));
const run = promisify(execFile);
const now = Date.UTC(2025, 0, 1);
const connectionIds = ["crm", "accounting"];

describe("tenon keys", () => {
  let cwd: string;
  let sqlitePath: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-keys-cli-"));
    sqlitePath = join(cwd, "tenon.db");
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  /** Our environment without anything that would pick another key or database. */
  function childEnv(extra: Record<string, string>): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !name.startsWith("TENON_") && name !== "NODE_ENV") env[name] = value;
    }
    return { ...env, TENON_SQLITE_PATH: sqlitePath, ...extra };
  }

  async function storeCredentials(vault: Vault): Promise<void> {
    const storage = new SqliteStorage({ path: sqlitePath });
    try {
      await storage.migrate();
      for (const connectionId of connectionIds) {
        await storage.connections.saveCredentials({
          connectionId,
          sealedCredentials: vault.seal(credentialsScope(connectionId), `{"token":"${connectionId}"}`),
          expiresAt: null,
          restoresAccess: true,
          now,
        });
      }
    } finally {
      await storage.close();
    }
  }

  async function expectCredentialsOpenWith(key: MasterKey): Promise<void> {
    const vault = new Vault({ current: key, previous: [] });
    const storage = new SqliteStorage({ path: sqlitePath });
    try {
      await storage.migrate();
      for (const connectionId of connectionIds) {
        const sealed = (await storage.connections.getConnection(connectionId))?.sealedCredentials ?? "";
        expect(vault.open(credentialsScope(connectionId), sealed)).toBe(`{"token":"${connectionId}"}`);
      }
    } finally {
      await storage.close();
    }
  }

  it("generate prints one base64 key of 32 bytes and nothing else", async () => {
    const { stdout, stderr } = await run(process.execPath, [tenon, "keys", "generate"], { cwd, env: childEnv({}) });
    expect(stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(Buffer.from(stdout.trim(), "base64")).toHaveLength(32);
    expect(stderr).toBe("");
  });

  it("rotate with the development key file: the file ends with a new key alone, and stored credentials open with it", async () => {
    const before = loadKeyring({ cwd, env: {} });
    await storeCredentials(new Vault(before));

    const { stdout } = await run(process.execPath, [tenon, "keys", "rotate"], { cwd, env: childEnv({}) });

    const keyFile = join(cwd, ".tenon/master.key");
    const lines = readFileSync(keyFile, "utf8").trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const after = loadKeyring({ cwd, env: {} });
    expect(after.current.id).not.toBe(before.current.id);
    expect(after.previous).toEqual([]);
    expect(stdout).toContain(`resealed 2 secret(s) under master key ${after.current.id}`);
    expect(stdout).not.toContain(after.current.key.toString("base64"));
    await expectCredentialsOpenWith(after.current);
  });

  it("rotate with TENON_MASTER_KEY: rewraps to the new key and says what to do next", async () => {
    const old = generateMasterKey();
    const next = generateMasterKey();
    await storeCredentials(new Vault({ current: old, previous: [] }));

    const env = childEnv({
      TENON_MASTER_KEY: next.key.toString("base64"),
      TENON_MASTER_KEY_PREVIOUS: old.key.toString("base64"),
    });
    const { stdout } = await run(process.execPath, [tenon, "keys", "rotate"], { cwd, env });

    expect(stdout).toContain(`resealed 2 secret(s) under master key ${next.id}`);
    expect(stdout).toContain("remove TENON_MASTER_KEY_PREVIOUS once every process runs with the new key");
    await expectCredentialsOpenWith(next);
  });

  it("rotate without the old key fails, says which key is missing, and changes nothing", async () => {
    const old = generateMasterKey();
    await storeCredentials(new Vault({ current: old, previous: [] }));

    const env = childEnv({ TENON_MASTER_KEY: generateMasterKey().key.toString("base64") });
    const failure = await run(process.execPath, [tenon, "keys", "rotate"], { cwd, env }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain(`sealed under master key ${old.id}, which this process does not have`);
    expect(failure?.stderr).toContain("set TENON_MASTER_KEY_PREVIOUS to the old key");
    await expectCredentialsOpenWith(old);
  });
});
