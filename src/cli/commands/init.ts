import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigurationError } from "../../sdk/errors.ts";
import { missingGitignoreLines } from "../init/gitignore-lines.ts";
import {
  type Manifest,
  type MergedManifest,
  mergePackageJson,
  type ProjectNeeds,
  packageNameOf,
} from "../init/merge-package-json.ts";
import { assertSupportedNode } from "../init/node-version.ts";

// Both resolve from src/cli/commands/ and from dist/cli/commands/: the same depth below the package root.
const templates = fileURLToPath(new URL("../../../templates/init/", import.meta.url));
const tenonManifest = fileURLToPath(new URL("../../../package.json", import.meta.url));

/** The files `tenon init` writes from `templates/init/`; it refuses to overwrite any of them without --force. */
const scaffoldFiles = [
  { template: "tenon.config.ts", path: "tenon.config.ts", about: "the integrations, their webhooks and connections" },
  { template: "src/order-to-crm.ts", path: "src/order-to-crm.ts", about: "a store order becomes a CRM contact" },
  { template: "test/order-to-crm.test.ts", path: "test/order-to-crm.test.ts", about: "its tests, against the sandbox" },
  { template: "tsconfig.json", path: "tsconfig.json", about: "strict TypeScript, checked by `npm run typecheck`" },
  { template: "env.example", path: ".env.example", about: "the variables the config reads" },
  { template: "README.md", path: "README.md", about: "how to run, test and deploy the project" },
];
/** npm leaves files named .gitignore out of a package, so the template is `gitignore`; merged, never overwritten. */
const gitignoreTemplate = "gitignore";

/**
 * `tenon init [dir]`: a project that runs offline against the sandbox: package.json (merged into an existing
 * one), tsconfig.json, tenon.config.ts with one integration, its test, .env.example, .gitignore and a README.
 * Nothing is written if a file it would write exists, unless `force`.
 */
export async function initCommand(directory: string, options: { force?: boolean }): Promise<void> {
  assertSupportedNode();
  const root = resolve(directory);
  if (existsSync(root) && !statSync(root).isDirectory()) {
    throw new ConfigurationError(`${directory} exists and is not a directory; give tenon init a directory`);
  }
  const existing = scaffoldFiles.filter((file) => existsSync(join(root, file.path)));
  if (existing.length > 0 && !options.force) {
    throw new ConfigurationError(
      [
        `init would overwrite ${existing.length === 1 ? "a file that exists" : "files that exist"} in ${shown(root)}:`,
        ...existing.map((file) => `  ${file.path}`),
        "Nothing was written. Move them aside, or run `tenon init --force` to overwrite them",
        "(package.json and .gitignore are merged, never overwritten).",
      ].join("\n"),
    );
  }
  const packageJsonPath = join(root, "package.json");
  const existingManifest = existsSync(packageJsonPath) ? readFileSync(packageJsonPath, "utf8") : undefined;
  const packageJson = mergePackageJson(
    existingManifest === undefined ? undefined : parseManifest(existingManifest, packageJsonPath),
    projectNeeds(root),
  );

  const report: string[] = [];
  for (const file of scaffoldFiles) {
    const target = join(root, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, readFileSync(join(templates, file.template)));
    const overwritten = existing.includes(file) ? " (overwritten)" : "";
    report.push(`  ${file.path.padEnd(27)} ${file.about}${overwritten}`);
  }
  if (existingManifest === undefined || packageJson.added.length > 0) {
    // In the project's own indentation, so the diff shows only what was added.
    const indent = existingManifest === undefined ? "  " : (/^([ \t]+)"/m.exec(existingManifest)?.[1] ?? "  ");
    writeFileSync(packageJsonPath, `${JSON.stringify(packageJson.manifest, null, indent)}\n`);
  }
  report.unshift(
    `  ${"package.json".padEnd(27)} ${existingManifest === undefined ? "created" : describeMerge(packageJson)}`,
  );
  report.push(`  ${".gitignore".padEnd(27)} ${mergeGitignore(join(root, ".gitignore"))}`);
  console.log([`Tenon project in ${shown(root)}:`, ...report, "", ...nextSteps(root, packageJson.manifest)].join("\n"));
}

/** Adds the lines of the template's .gitignore that `path` lacks (or writes it); says what it did. */
function mergeGitignore(path: string): string {
  const wanted = readFileSync(join(templates, gitignoreTemplate), "utf8").trim().split("\n");
  if (!existsSync(path)) {
    writeFileSync(path, `${wanted.join("\n")}\n`);
    return "created";
  }
  const text = readFileSync(path, "utf8");
  const missing = missingGitignoreLines(text, wanted);
  if (missing.length === 0) return "unchanged";
  writeFileSync(path, `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${missing.join("\n")}\n`);
  return `added ${missing.join(", ")}`;
}

function parseManifest(text: string, path: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(
      `${shown(path)} is not valid JSON (${(error as Error).message}); fix it and run tenon init again. Nothing was written`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError(`${shown(path)} does not hold a JSON object; fix it and run tenon init again`);
  }
  return parsed as Manifest;
}

/** The project's scripts and dependencies, at the versions this Tenon is built and tested with. */
function projectNeeds(root: string): ProjectNeeds {
  const tenon = JSON.parse(readFileSync(tenonManifest, "utf8")) as {
    version: string;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const versionOf = (name: string) => {
    const version = tenon.devDependencies?.[name] ?? tenon.dependencies?.[name];
    if (version === undefined) throw new Error(`Tenon's package.json names no version of ${name}`);
    return version;
  };
  return {
    name: packageNameOf(basename(root)),
    scripts: {
      dev: "tenon dev",
      start: "tenon start",
      test: "node --import tsx --test test/*.test.ts",
      typecheck: "tsc --noEmit",
    },
    dependencies: { tenon: `^${tenon.version}` },
    devDependencies: {
      "@types/node": versionOf("@types/node"),
      tsx: versionOf("tsx"),
      typescript: versionOf("typescript"),
    },
  };
}

function describeMerge(merged: MergedManifest): string {
  const parts = [merged.added.length === 0 ? "nothing to add" : `added ${merged.added.join(", ")}`];
  if (merged.kept.length > 0) parts.push(`kept yours: ${merged.kept.join(", ")}`);
  return parts.join("; ");
}

function nextSteps(root: string, manifest: Manifest): string[] {
  const into = relative(process.cwd(), root);
  const steps = [
    "Next:",
    ...(into === "" ? [] : [`  cd ${into.includes(" ") ? JSON.stringify(into) : into}`]),
    "  npm install",
    "  npm run dev    Tenon + the sandbox; then place an order: curl -X POST http://127.0.0.1:4010/_sandbox/store/orders",
    "  npm test       the integration's tests, offline against the sandbox",
  ];
  if (manifest.type !== "module") {
    steps.push(
      "",
      `package.json keeps "type": ${JSON.stringify(manifest.type)}: the config still loads, as Tenon loads .ts files with tsx, which handles import/export in either kind of package.`,
    );
  }
  return steps;
}

function shown(path: string): string {
  const fromCwd = relative(process.cwd(), path);
  if (fromCwd === "") return ".";
  return fromCwd.startsWith("..") ? path : fromCwd;
}
