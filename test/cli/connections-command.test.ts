import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openVault } from "../../src/connections/vault/open-vault.ts";
import { credentialsScope } from "../../src/connections/vault/rotate-master-key.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const secret = "sk_test_cli-secret-7781";

// What a project's tenon.config.ts may hold; plain data, so the temporary directory needs no node_modules.
const config = `export default {
  integrations: [],
  connections: {
    crm: { baseUrl: "https://crm.example.com", auth: { type: "apiKey", in: "header", name: "X-Api-Key" } },
  },
};
`;

describe("tenon connections (SQLite)", () => {
  let cwd: string;
  let sqlitePath: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-connections-cli-"));
    sqlitePath = join(cwd, "tenon.db");
    writeFileSync(join(cwd, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(cwd, "tenon.config.ts"), config);
    await (await openStorage()).close();
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  async function openStorage(): Promise<SqliteStorage> {
    const storage = new SqliteStorage({ path: sqlitePath });
    await storage.migrate();
    return storage;
  }

  /** Runs the real CLI in the project directory, with `stdin` piped in, and no TENON_* variable of ours. */
  function tenon(args: string[], stdin = "") {
    return runTenonCli(cwd, args, { TENON_SQLITE_PATH: sqlitePath }, stdin);
  }

  async function storedFields(): Promise<{ sealed: string; fields: Record<string, string>; expiresAt: number | null }> {
    const storage = await openStorage();
    try {
      const record = await storage.connections.getConnection("crm");
      const sealed = record?.sealedCredentials ?? "";
      // The key file the command generated in the project directory, as `tenon start` would use it.
      const vault = openVault({ env: {}, cwd });
      return {
        sealed,
        fields: JSON.parse(vault.open(credentialsScope("crm"), sealed)),
        expiresAt: record?.expiresAt ?? null,
      };
    } finally {
      await storage.close();
    }
  }

  it("set-credentials reads the fields from stdin and stores them sealed", async () => {
    const result = await tenon(
      ["connections", "set-credentials", "crm", "--expires-at", "2030-01-31T00:00:00Z"],
      JSON.stringify({ apiKey: secret }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('credentials of connection "crm" stored (sealed); 0 paused runs resumed.');
    expect(result.stdout + result.stderr).not.toContain(secret);

    const stored = await storedFields();
    expect(stored.fields).toEqual({ apiKey: secret });
    expect(stored.sealed).not.toContain(secret);
    expect(stored.expiresAt).toBe(Date.parse("2030-01-31T00:00:00Z"));

    const listed = await tenon(["connections"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+AUTH\s+STATUS/);
    expect(listed.stdout).toMatch(/crm\s+apiKey\s+active\s+2030-01-3\d/);
    expect(listed.stdout).not.toContain(secret);
  });

  it("set-credentials refuses input that is not a JSON object of strings, without echoing it", async () => {
    const broken = await tenon(["connections", "set-credentials", "crm"], `{"apiKey": "${secret}"`);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("standard input is not valid JSON");
    expect(broken.stdout + broken.stderr).not.toContain(secret);

    const unknown = await tenon(["connections", "set-credentials", "nope"], JSON.stringify({ apiKey: secret }));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no connection "nope"');

    const storage = await openStorage();
    try {
      expect(await storage.connections.getConnection("crm")).toBeNull();
    } finally {
      await storage.close();
    }
  });
});
