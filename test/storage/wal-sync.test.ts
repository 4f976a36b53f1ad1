import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WalSync } from "../../src/storage/sqlite/wal-sync.ts";

describe("WalSync", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function walFile(): string {
    const dir = mkdtempSync(join(tmpdir(), "tenon-wal-sync-"));
    dirs.push(dir);
    const path = join(dir, "tenon.db-wal");
    writeFileSync(path, "frames");
    return path;
  }

  it("lets commits made before its fdatasync is asked for share it, and gives a later commit the next one", async () => {
    const sync = new WalSync(walFile());
    try {
      // Two commits in one turn of the event loop: the first sync is still opening the file, so it covers both.
      const first = sync.sync();
      expect(sync.sync()).toBe(first);
      await first;
      // The file is open now: a sync asked for at once, and a commit while it runs waits for the next one.
      const second = sync.sync();
      await Promise.resolve();
      appendFileSync(join(dirs[0] as string, "tenon.db-wal"), "more frames");
      const third = sync.sync();
      expect(third).not.toBe(second);
      expect(sync.sync()).toBe(third);
      await Promise.all([second, third]);
    } finally {
      await sync.close();
    }
  });

  it("fails the commits waiting for it when the WAL file cannot be opened", async () => {
    const sync = new WalSync(join(walFile(), "..", "missing-wal"));
    const first = sync.sync();
    const joined = sync.sync();
    await expect(first).rejects.toThrow(/ENOENT/);
    await expect(joined).rejects.toThrow(/ENOENT/);
    await sync.close();
  });
});
