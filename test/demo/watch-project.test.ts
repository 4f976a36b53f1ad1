import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type ProjectWatcher, watchProject } from "../../src/demo/watch-project.ts";
import { waitFor } from "../support/wait.ts";

let directory: string | undefined;
let watcher: ProjectWatcher | undefined;
afterEach(() => {
  watcher?.close();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

function project(): { root: string; bursts: string[][] } {
  directory = mkdtempSync(join(tmpdir(), "tenon-watch-"));
  for (const folder of ["src", "node_modules/pkg", ".git", ".tenon", "dist"])
    mkdirSync(join(directory, folder), { recursive: true });
  const bursts: string[][] = [];
  watcher = watchProject(directory, {
    onChange: (changed) => bursts.push(changed),
    ignoredPrefixes: [join(directory, "dev.db")],
    debounceMs: 100,
  });
  return { root: directory, bursts };
}

describe("watchProject", () => {
  it("reports a burst of saves once, with the changed files relative to the project", async () => {
    const { root, bursts } = project();
    writeFileSync(join(root, "src", "order-sync.ts"), "export const v = 1;\n");
    writeFileSync(join(root, "src", "order-sync.ts"), "export const v = 2;\n");
    writeFileSync(join(root, "tenon.config.ts"), "export default {};\n");
    await waitFor("a burst", () => bursts.length > 0);
    expect(bursts).toEqual([["src/order-sync.ts", "tenon.config.ts"]]);
  });

  it("ignores node_modules, .git, .tenon, dist, the engine's own files and editor temp files", async () => {
    const { root, bursts } = project();
    for (const file of [
      "node_modules/pkg/index.js",
      ".git/index",
      ".tenon/dev.log",
      "dist/index.js",
      "dev.db-wal",
      "src/.order-sync.ts.swp",
      "src/order-sync.ts~",
      "src/.#order-sync.ts",
      "src/4913",
    ])
      writeFileSync(join(root, file), "x");
    // A change that counts, after the ignored ones: the burst holds it alone.
    writeFileSync(join(root, "src", "kept.ts"), "x");
    await waitFor("a burst", () => bursts.length > 0);
    expect(bursts).toEqual([["src/kept.ts"]]);
  });

  it("leaves out a file written and removed within one burst (sed -i's temp file), not a file deleted", async () => {
    const { root, bursts } = project();
    writeFileSync(join(root, "src", "gone.ts"), "x");
    await waitFor("the first burst", () => bursts.length === 1);
    writeFileSync(join(root, "src", "sedX1b2c3"), "x");
    rmSync(join(root, "src", "sedX1b2c3"));
    rmSync(join(root, "src", "gone.ts"));
    await waitFor("the second burst", () => bursts.length === 2);
    expect(bursts[1]).toEqual(["src/gone.ts"]);
  });

  it("watches a directory created after it started, and reports the files it came with", async () => {
    const { root, bursts } = project();
    mkdirSync(join(root, "src", "flows"));
    writeFileSync(join(root, "src", "flows", "refund.ts"), "x");
    await waitFor("a burst with the new file", () => bursts.flat().includes("src/flows/refund.ts"));
    writeFileSync(join(root, "src", "flows", "refund.ts"), "y");
    await waitFor("a second burst", () => bursts.length === 2);
    expect(bursts[1]).toEqual(["src/flows/refund.ts"]);
  });
});
