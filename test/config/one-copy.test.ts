import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTenonCli } from "../support/tenon-cli.ts";

const repo = new URL("../../", import.meta.url);

/** A project whose config imports Tenon from `entry`; the CLI runs the compiled package (dist/). */
function configImporting(entry: string): string {
  return `import { defineConfig, defineIntegration } from ${JSON.stringify(pathToFileURL(entry).href)};

export default defineConfig({
  integrations: [defineIntegration({ id: "noop", trigger: { event: "noop" }, async run() {} })],
});
`;
}

describe("one copy of Tenon per process", () => {
  let cwd: string;
  const env = () => ({ TENON_SQLITE_PATH: join(cwd, "tenon.db") });

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-one-copy-"));
    writeFileSync(join(cwd, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(cwd, "same.config.ts"), configImporting(new URL("dist/index.js", repo).pathname));
    writeFileSync(join(cwd, "other.config.ts"), configImporting(new URL("src/index.ts", repo).pathname));
    const migrated = await runTenonCli(cwd, ["migrate"], env());
    expect(migrated.code, migrated.stderr).toBe(0);
  });
  afterAll(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  it("loads a config whose integrations the CLI's own copy made", async () => {
    const listed = await runTenonCli(cwd, ["connections", "list", "--config", "same.config.ts"], env());
    expect(listed.code, listed.stderr).toBe(0);
  });

  it("refuses one made by a second copy, naming both, instead of running it without its step context", async () => {
    const listed = await runTenonCli(cwd, ["connections", "list", "--config", "other.config.ts"], env());
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain(
      `integration "noop" was made by another copy of Tenon (${new URL("src", repo).href}) than the one running it (${new URL("dist", repo).href})`,
    );
    expect(listed.stderr).toMatch(/npm ls tenon/);
  });
});
