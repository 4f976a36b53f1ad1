import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";

const bin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));
const apiToken = "dev-reload-test-token";
// Generous: in CI this shares two cores with the end-to-end suites, and a reload loads the code in a new process.
const slowly = 45_000;

/** How the fixture project imports Tenon. */
function tenonImportSpecifier(): string {
  // The CLI runs the compiled package; the project must import that same copy (dist/index.js), as "tenon" would.
  return pathToFileURL(fileURLToPath(new URL("../../dist/index.js", import.meta.url))).href;
}

/**
 * Version `version` of the project's one integration: step a, a durable nap, step b. Each step's function
 * appends what it did to .tenon/effects.log (outside what `tenon dev` watches), so a step run twice shows.
 */
function napIntegration(version: number, nap: string): string {
  return `import { appendFileSync } from "node:fs";
import { defineIntegration } from ${JSON.stringify(tenonImportSpecifier())};

const effects = new URL("../.tenon/effects.log", import.meta.url);

export const nap = defineIntegration({
  id: "nap",
  trigger: { event: "nap.requested" },
  async run({ step }) {
    await step.run("a", () => {
      appendFileSync(effects, "a v${version}\\n");
      return "a";
    });
    await step.sleep("nap", "${nap}");
    return step.run("b", () => {
      appendFileSync(effects, "b v${version}\\n");
      return { version: ${version} };
    });
  },
});
`;
}

function writeProject(nap: string): string {
  const root = mkdtempSync(join(tmpdir(), "tenon-dev-reload-"));
  writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(
    join(root, "tenon.config.ts"),
    `import { defineConfig } from ${JSON.stringify(tenonImportSpecifier())};
import { nap } from "./src/nap.ts";

export default defineConfig({ integrations: [nap] });
`,
  );
  mkdirSync(join(root, "src"));
  writeFileSync(join(root, "src", "nap.ts"), napIntegration(1, nap));
  return root;
}

interface DevProcess {
  child: ChildProcess;
  output: () => string;
  tenonUrl: string;
  exited: Promise<number | null>;
}

async function startDev(root: string): Promise<DevProcess> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("TENON_")) env[name] = value;
  }
  const child = spawn(process.execPath, [bin, "dev", "--sandbox-port", "0"], {
    cwd: root,
    env: { ...env, TENON_HTTP_PORT: "0", TENON_API_TOKENS: apiToken },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running = child;
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const tenonUrl = await waitFor("Tenon's address", () => /Tenon\s+(http:\/\/\S+)/.exec(output)?.[1], slowly);
  await waitFor("the engine to start", () => /started in \d+ ms/.test(output), slowly, 50);
  return { child, output: () => output, tenonUrl, exited };
}

async function requestNap(dev: DevProcess): Promise<void> {
  const response = await fetch(`${dev.tenonUrl}/api/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "nap.requested", payload: {} }),
  });
  expect(response.status, await response.text()).toBe(202);
}

interface RecordedRun {
  id: string;
  status: string;
  steps: Record<string, string | null>;
}

/** What the engine recorded, read from the database `tenon dev` runs on. */
function recordedRuns(root: string): RecordedRun[] {
  const path = join(root, ".tenon", "dev.db");
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    const runs = db.prepare("SELECT id, status FROM runs ORDER BY seq").all() as { id: string; status: string }[];
    const steps = db.prepare("SELECT run_id, name, output FROM steps").all() as {
      run_id: string;
      name: string;
      output: string | null;
    }[];
    return runs.map((run) => ({
      ...run,
      steps: Object.fromEntries(steps.filter((step) => step.run_id === run.id).map((s) => [s.name, s.output])),
    }));
  } catch {
    // Before the engine has migrated the new file, there is no table yet.
    return [];
  } finally {
    db.close();
  }
}

function effects(root: string): string[] {
  const path = join(root, ".tenon", "effects.log");
  return existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : [];
}

async function stopDev(dev: DevProcess): Promise<void> {
  dev.child.kill("SIGTERM");
  expect(await dev.exited, dev.output()).toBe(0);
  running = undefined;
}

let project: string | undefined;
let running: ChildProcess | undefined;
afterEach(() => {
  running?.kill("SIGKILL");
  running = undefined;
  if (project) rmSync(project, { recursive: true, force: true });
});

describe("tenon dev reloads when the project changes", () => {
  it("a run sleeping across the reload wakes in the new engine and finishes with the new code, once", async () => {
    // The nap must outlast the reload (the new code loads in a new process) on a loaded machine.
    project = writeProject("10s");
    const root = project;
    const dev = await startDev(root);
    await requestNap(dev);
    const sleeping = await waitFor("the run to sleep", () =>
      recordedRuns(root).find((run) => run.status === "sleeping"),
    );

    writeFileSync(join(root, "src", "nap.ts"), napIntegration(2, "10s"));
    await waitFor("the reload", () => /reloaded in \d+ ms after src\/nap\.ts changed/.test(dev.output()), slowly, 50);
    expect(recordedRuns(root), "the run finished before the reload: the nap is too short for this machine").toEqual([
      expect.objectContaining({ id: sleeping.id, status: "sleeping" }),
    ]);
    await waitFor("the run to succeed", () => recordedRuns(root)[0]?.status === "succeeded", slowly, 100);

    expect(recordedRuns(root)).toEqual([
      { id: sleeping.id, status: "succeeded", steps: expect.objectContaining({ a: '"a"', b: '{"version":2}' }) },
    ]);
    expect(effects(root)).toEqual(["a v1", "b v2"]);
    await stopDev(dev);
  }, 90_000);

  it("a save that does not load keeps the previous version running, and the next good save reloads", async () => {
    project = writeProject("1ms");
    const root = project;
    const dev = await startDev(root);

    writeFileSync(join(root, "src", "nap.ts"), napIntegration(2, "1ms").replace("return { version: 2 };", "return {"));
    const failure = await waitFor(
      "the reload to fail",
      () =>
        /reload failed after src\/nap\.ts changed; still running the previous version:\n((?: {2}.*\n)+)/.exec(
          dev.output(),
        ),
      slowly,
      50,
    );
    // Where the syntax error is, relative to the project, with its line and column.
    expect(failure[1]).toMatch(/^ {2}src\/nap\.ts:\d+:\d+: ERROR: /m);
    await requestNap(dev);
    await waitFor("the run to succeed", () => recordedRuns(root)[0]?.status === "succeeded", slowly, 100);
    expect(recordedRuns(root)[0]?.steps.b).toBe('{"version":1}');

    writeFileSync(join(root, "src", "nap.ts"), napIntegration(3, "1ms"));
    await waitFor("the reload", () => /reloaded in \d+ ms after src\/nap\.ts changed/.test(dev.output()), slowly, 50);
    await requestNap(dev);
    await waitFor("the second run to succeed", () => recordedRuns(root)[1]?.status === "succeeded", slowly, 100);
    expect(recordedRuns(root).map((run) => run.steps.b)).toEqual(['{"version":1}', '{"version":3}']);
    expect(effects(root)).toEqual(["a v1", "b v1", "a v3", "b v3"]);
    await stopDev(dev);
  }, 90_000);

  it("an engine that crashes is shown stopped, and restarts at the next change", async () => {
    project = writeProject("1ms");
    const root = project;
    const dev = await startDev(root);
    // The engine is the one child process of tenon dev (Linux lists a process's children in /proc).
    const devPid = dev.child.pid as number;
    const [enginePid] = readFileSync(`/proc/${devPid}/task/${devPid}/children`, "utf8").trim().split(" ");
    process.kill(Number(enginePid), "SIGKILL");
    await waitFor("the crash", () => dev.output().includes("the engine stopped by itself (signal SIGKILL)"), slowly);

    writeFileSync(join(root, "src", "nap.ts"), napIntegration(2, "1ms"));
    await waitFor("the restart", () => /restarted in \d+ ms after src\/nap\.ts changed/.test(dev.output()), slowly, 50);
    await requestNap(dev);
    await waitFor("the run to succeed", () => recordedRuns(root)[0]?.status === "succeeded", slowly, 100);
    expect(recordedRuns(root)[0]?.steps.b).toBe('{"version":2}');
    await stopDev(dev);
  }, 90_000);
});
