import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { copyTemplatesOntoSources, templateDirectory } from "../support/scaffold.ts";

const require = createRequire(import.meta.url);
const repository = fileURLToPath(new URL("../../", import.meta.url));
const scaffoldSources = ["tenon.config.ts", "src/order-to-crm.ts", "test/order-to-crm.test.ts"];

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

// What `tenon init` writes, with its "tenon" imports pointed at src/ (the packaged version is tested after `npm pack`).
describe("the project tenon init scaffolds", () => {
  let project: string | undefined;
  afterEach(() => {
    if (project) rmSync(project, { recursive: true, force: true });
    project = undefined;
  });

  it("passes its own tests (node:test through tsx), offline against the sandbox", async () => {
    project = mkdtempSync(join(tmpdir(), "tenon-scaffold-"));
    mkdirSync(join(project, "src"));
    mkdirSync(join(project, "test"));
    copyTemplatesOntoSources(project, scaffoldSources);
    writeFileSync(join(project, "package.json"), JSON.stringify({ type: "module" }));
    const tsx = pathToFileURL(require.resolve("tsx")).href;

    const result = await run(process.execPath, ["--import", tsx, "--test", "test/order-to-crm.test.ts"], project);

    expect(result.output).toMatch(/^# pass 2$/m);
    expect(result.code).toBe(0);
  });

  it("typechecks under its own tsconfig.json (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess)", async () => {
    // Inside the repository, so "@types/node" and TypeScript resolve from its node_modules; .tenon/ is ignored by git.
    mkdirSync(join(repository, ".tenon"), { recursive: true });
    project = mkdtempSync(join(repository, ".tenon", "scaffold-typecheck-"));
    for (const file of ["tsconfig.json", ...scaffoldSources])
      cpSync(join(templateDirectory, file), join(project, file));
    // "tenon" and its subpaths resolve to the sources, as the package's exports will resolve them to its declarations.
    writeFileSync(
      join(project, "tsconfig.check.json"),
      JSON.stringify({
        extends: "./tsconfig.json",
        compilerOptions: {
          paths: {
            tenon: ["../../src/index.ts"],
            "tenon/testing": ["../../src/testing/index.ts"],
            "tenon/connectors/*": ["../../src/connectors/*/index.ts"],
          },
        },
      }),
    );
    const tsc = require.resolve("typescript/bin/tsc");

    const result = await run(process.execPath, [tsc, "-p", "tsconfig.check.json", "--pretty", "false"], project);

    // Tenon's own sources are not written for exactOptionalPropertyTypes; a user's tsc sees only their
    // declarations, so only the scaffold's own files must be free of errors. Paths are
    // relative to the project: the sources' errors start with "../../".
    const scaffoldErrors = result.output
      .split("\n")
      .filter((line) => /^(src|test|tenon\.config)[^(]*\(\d+,\d+\): error/.test(line));
    expect(scaffoldErrors).toEqual([]);
    expect(result.output).not.toMatch(/error TS2307/); // every import resolved
  }, 120_000);
});
