import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { packageNameOf } from "../../src/cli/init/merge-package-json.ts";
import { assertSupportedNode } from "../../src/cli/init/node-version.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const tenonManifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
const scaffoldFiles = [
  ".env.example",
  ".gitignore",
  "README.md",
  "package.json",
  "src/order-to-crm.ts",
  "tenon.config.ts",
  "test/order-to-crm.test.ts",
  "tsconfig.json",
];

function filesIn(directory: string, prefix = ""): string[] {
  return readdirSync(join(directory, prefix), { withFileTypes: true })
    .flatMap((entry) => {
      const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      return entry.isDirectory() ? filesIn(directory, path) : [path];
    })
    .sort();
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

describe("tenon init", () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-init-"));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it("scaffolds a project into a new directory: config, integration, test, package.json at Tenon's versions", async () => {
    const result = await runTenonCli(cwd, ["init", "my-integrations"], {});

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const project = join(cwd, "my-integrations");
    expect(filesIn(project)).toEqual(scaffoldFiles);
    expect(readJson(join(project, "package.json"))).toEqual({
      name: "my-integrations",
      version: "0.1.0",
      private: true,
      type: "module",
      scripts: {
        dev: "tenon dev",
        start: "tenon start",
        test: "node --import tsx --test test/*.test.ts",
        typecheck: "tsc --noEmit",
      },
      dependencies: { tenon: `^${tenonManifest.version}` },
      devDependencies: {
        "@types/node": tenonManifest.devDependencies["@types/node"],
        tsx: tenonManifest.dependencies.tsx,
        typescript: tenonManifest.devDependencies.typescript,
      },
    });
    expect(readFileSync(join(project, ".gitignore"), "utf8")).toBe("node_modules/\n.tenon/\n.env\n");
    expect(readFileSync(join(project, "tenon.config.ts"), "utf8")).toContain('from "tenon"');
    expect(result.stdout).toContain("Next:\n  cd my-integrations\n  npm install\n  npm run dev");
  });

  it("refuses to overwrite the files it would write, lists them and writes nothing", async () => {
    await runTenonCli(cwd, ["init"], {});
    writeFileSync(join(cwd, "tenon.config.ts"), "// mine\n");
    rmSync(join(cwd, "src"), { recursive: true });
    const packageJson = readFileSync(join(cwd, "package.json"), "utf8");

    const result = await runTenonCli(cwd, ["init", "."], {});

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("tenon: init would overwrite files that exist in .:\n  tenon.config.ts\n");
    expect(result.stderr).toContain("  README.md\nNothing was written.");
    expect(result.stderr).not.toContain("src/order-to-crm.ts");
    expect(readFileSync(join(cwd, "tenon.config.ts"), "utf8")).toBe("// mine\n");
    expect(existsSync(join(cwd, "src"))).toBe(false);
    expect(readFileSync(join(cwd, "package.json"), "utf8")).toBe(packageJson);
  });

  it("overwrites them with --force, and still merges package.json", async () => {
    await runTenonCli(cwd, ["init"], {});
    writeFileSync(join(cwd, "tenon.config.ts"), "// mine\n");
    const manifest = readJson(join(cwd, "package.json"));
    writeFileSync(join(cwd, "package.json"), JSON.stringify({ ...manifest, author: "Ada" }));

    const result = await runTenonCli(cwd, ["init", "--force"], {});

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/tenon\.config\.ts +.*\(overwritten\)/);
    expect(readFileSync(join(cwd, "tenon.config.ts"), "utf8")).toContain("defineConfig");
    expect(readJson(join(cwd, "package.json"))).toEqual({ ...manifest, author: "Ada" });
  });

  it("merges into an existing package.json: adds what is missing, keeps every field, dependency and its indentation", async () => {
    const mine = {
      name: "acme-sync",
      version: "2.3.0",
      description: "ours",
      type: "commonjs",
      scripts: { test: "vitest run", build: "tsc", dev: "tenon dev" },
      dependencies: { tenon: "file:../tenon-0.1.0.tgz", lodash: "^4.17.21" },
      devDependencies: { typescript: "^5.4.0" },
      workspaces: ["packages/*"],
    };
    writeFileSync(join(cwd, "package.json"), JSON.stringify(mine, null, 4));
    writeFileSync(join(cwd, ".gitignore"), "/node_modules\ndist");

    const result = await runTenonCli(cwd, ["init"], {});

    expect(result.code).toBe(0);
    expect(readJson(join(cwd, "package.json"))).toEqual({
      ...mine,
      scripts: { ...mine.scripts, start: "tenon start", typecheck: "tsc --noEmit" },
      devDependencies: {
        typescript: "^5.4.0",
        "@types/node": tenonManifest.devDependencies["@types/node"],
        tsx: tenonManifest.dependencies.tsx,
      },
    });
    expect(result.stdout).toContain(
      "added scripts.start, scripts.typecheck, devDependencies.@types/node, devDependencies.tsx; " +
        'kept yours: type ("commonjs"), scripts.test ("vitest run"), tenon "file:../tenon-0.1.0.tgz", typescript "^5.4.0"',
    );
    expect(result.stdout).toContain('package.json keeps "type": "commonjs": the config still loads');
    expect(readFileSync(join(cwd, "package.json"), "utf8")).toMatch(/^\{\n {4}"name": "acme-sync",\n/);
    expect(readFileSync(join(cwd, ".gitignore"), "utf8")).toBe("/node_modules\ndist\n.tenon/\n.env\n");
    expect(result.stdout).toMatch(/\.gitignore +added \.tenon\/, \.env/);
    expect(result.stdout).not.toContain("  cd ");
  });

  it("replaces npm init's placeholder test script, and sets the type when the project has none", async () => {
    mkdirSync(join(cwd, "My Integrations"));
    writeFileSync(
      join(cwd, "My Integrations", "package.json"),
      JSON.stringify({ name: "x", scripts: { test: 'echo "Error: no test specified" && exit 1' } }),
    );

    const result = await runTenonCli(cwd, ["init", "My Integrations"], {});

    expect(result.code).toBe(0);
    const manifest = readJson(join(cwd, "My Integrations", "package.json"));
    expect(manifest).toMatchObject({ name: "x", type: "module", dependencies: { tenon: `^${tenonManifest.version}` } });
    expect(manifest.scripts.test).toBe("node --import tsx --test test/*.test.ts");
    expect(result.stdout).toContain('  cd "My Integrations"');
  });

  it("refuses a package.json that is not JSON, writing nothing", async () => {
    writeFileSync(join(cwd, "package.json"), "{ name: oops");

    const result = await runTenonCli(cwd, ["init"], {});

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("tenon: package.json is not valid JSON");
    expect(filesIn(cwd)).toEqual(["package.json"]);
  });
});

describe("what tenon init checks", () => {
  it("needs Node.js 20.19 or newer, and says what to install", () => {
    for (const version of ["20.19.0", "20.20.2", "22.0.0", "24.11.1"])
      expect(() => assertSupportedNode(version)).not.toThrow();
    for (const version of ["18.20.4", "20.11.1", "20.18.3"]) {
      expect(() => assertSupportedNode(version)).toThrow(
        `Tenon needs Node.js 20.19.0 or newer, and this is Node.js ${version}: install Node.js 20.19+, 22 or 24`,
      );
    }
  });

  it("names the package after its directory", () => {
    expect(packageNameOf("my-integrations")).toBe("my-integrations");
    expect(packageNameOf("My Integrations")).toBe("my-integrations");
    expect(packageNameOf(".hidden_thing")).toBe("hidden_thing");
    expect(packageNameOf("!!!")).toBe("tenon-integrations");
  });
});
