import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NewEvent } from "../../src/storage/contract.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

/** Runs the real CLI in `cwd`, with no TENON_* variable but those given. */
function tenon(cwd: string, args: string[], env: Record<string, string>) {
  return runTenonCli(cwd, args, env);
}

function event(n: number): NewEvent {
  return {
    id: `evt_${n}`,
    source: "api",
    type: "order.created",
    dedupKey: `order-${n}`,
    payloadJson: JSON.stringify({ order: n, note: "x".repeat(200) }),
    receivedAt: n,
    runs: [{ id: `run_${n}`, integrationId: "sync-orders", concurrencyKey: null, concurrencyLimit: null }],
  };
}

/**
 * Accepts `total` events one after another, as a busy webhook endpoint does (or fewer, if stopped); `acked` grows
 * after each commit.
 */
function ingest(storage: SqliteStorage, total: number) {
  const acked: string[] = [];
  let stopped = false;
  const done = (async () => {
    for (let n = 0; n < total && !stopped; n++) {
      const [result] = await storage.acceptEvents([event(n)]);
      if (result) acked.push(result.eventId);
    }
  })();
  return {
    acked,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

function inspectBackup(file: string) {
  const copy = new Database(file, { readonly: true });
  try {
    return {
      integrity: copy.pragma("integrity_check", { simple: true }),
      eventIds: new Set(copy.prepare("SELECT id FROM events").pluck().all() as string[]),
      runs: copy.prepare("SELECT count(*) FROM runs").pluck().get() as number,
    };
  } finally {
    copy.close();
  }
}

describe("tenon backup (SQLite)", () => {
  let cwd: string;
  let env: Record<string, string>;
  let storage: SqliteStorage;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-backup-cli-"));
    env = { TENON_SQLITE_PATH: join(cwd, "tenon.db") };
    storage = new SqliteStorage({ path: env.TENON_SQLITE_PATH as string });
    await storage.migrate();
  });
  afterEach(async () => {
    await storage.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it("copies the database while 1,000 events are being accepted: the copy is intact and holds every event acknowledged before it began", async () => {
    const stream = ingest(storage, 1000);
    try {
      while (stream.acked.length < 200) await new Promise((resolve) => setImmediate(resolve));
      const ackedBefore = [...stream.acked];
      const backup = await tenon(cwd, ["backup", "backup.db"], env);
      const ackedDuring = stream.acked.length - ackedBefore.length;
      expect(backup.code, backup.stderr).toBe(0);
      // The engine kept accepting while the copy was taken, so the test did copy a database being written.
      expect(ackedDuring).toBeGreaterThan(0);

      const copy = inspectBackup(join(cwd, "backup.db"));
      expect(copy.integrity).toBe("ok");
      expect(ackedBefore.filter((id) => !copy.eventIds.has(id))).toEqual([]);
      expect(copy.runs).toBe(copy.eventIds.size);
      expect(backup.stdout).toContain(`${copy.eventIds.size} event(s), ${copy.runs} run(s)`);
      expect(backup.stdout).toContain(join(cwd, "backup.db"));
      // A single file, restorable by copying it: no WAL or partial file left beside it.
      expect(existsSync(join(cwd, "backup.db-wal"))).toBe(false);
      expect(readFileSync(join(cwd, "backup.db")).subarray(18, 20)).toEqual(Buffer.from([1, 1]));

      const before = readFileSync(join(cwd, "backup.db"));
      const refused = await tenon(cwd, ["backup", "backup.db"], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("backup.db already exists; choose another file, or pass --force to replace it");
      expect(readFileSync(join(cwd, "backup.db")).equals(before)).toBe(true);

      const ackedBeforeForced = [...stream.acked];
      const forced = await tenon(cwd, ["backup", "backup.db", "--force"], env);
      expect(forced.code, forced.stderr).toBe(0);
      const replaced = inspectBackup(join(cwd, "backup.db"));
      expect(replaced.integrity).toBe("ok");
      expect(ackedBeforeForced.filter((id) => !replaced.eventIds.has(id))).toEqual([]);
    } finally {
      await stream.stop();
    }
  });

  it("refuses to write over the live database", async () => {
    const result = await tenon(cwd, ["backup", "tenon.db", "--force"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("tenon.db is the live database itself");
    expect(inspectBackup(env.TENON_SQLITE_PATH as string).integrity).toBe("ok");
  });
});

describe("tenon backup (PostgreSQL)", () => {
  it("refuses, pointing at pg_dump, and writes nothing", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "tenon-backup-cli-"));
    try {
      const result = await tenon(cwd, ["backup", "backup.db"], {
        TENON_DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test",
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/this database is PostgreSQL .*back it up with pg_dump/);
      expect(existsSync(join(cwd, "backup.db"))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
