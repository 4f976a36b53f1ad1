import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { stopDeadlineMs } from "../../src/cli/commands/start.ts";
import { readSettings } from "../../src/config/settings.ts";
import { createServer } from "../../src/server/create-server.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { silentLogger, testEngine } from "../support/engine.ts";

/**
 * The files docs/deployment.md ships (docs/deploy/) are only useful if they agree with the code: the probe the
 * image checks must be one the server serves, the state must persist where the settings put it, the stop
 * timeout must outlast the drain. No Docker daemon or nginx runs here, so they are parsed, and what can run
 * (the health check command, `systemd-analyze verify`) is run.
 */
const root = fileURLToPath(new URL("../../", import.meta.url));
const deployDir = join(root, "docs/deploy");
const read = (name: string) => readFileSync(join(deployDir, name), "utf8");
const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  bin: Record<string, string>;
};
/** Where a project made by `tenon init` finds Tenon's CLI: node_modules/<package>/<bin>. */
const installedBin = posix.join("node_modules", packageJson.name, packageJson.bin[packageJson.name] ?? "");

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions per stage: continuation lines joined, comments dropped. */
function parseDockerfile(text: string): Instruction[][] {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: args.trim() };
    if (instruction.keyword === "FROM") stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.filter((i) => i.keyword === "ENV")) {
    for (const [, name = "", value = ""] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[name] = value.replace(/"/g, "");
  }
  return env;
}

function args(stage: Instruction[], keyword: string): string[] {
  return stage.filter((i) => i.keyword === keyword).map((i) => i.args);
}

describe("docs/deploy/Dockerfile", () => {
  const stages = parseDockerfile(read("Dockerfile"));
  const build = stages[0] ?? [];
  const runtime = stages.at(-1) ?? [];
  const env = envOf(runtime);
  const workdir = args(runtime, "WORKDIR").at(-1) ?? "/";
  const settings = readSettings(env, { cwd: workdir });

  it("builds in one stage, with the tools node-gyp needs for better-sqlite3, and runs in a slim one", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(args(build, "FROM")[0]).toMatch(/^node:(20|22)-bookworm(-slim)? AS build$/i);
    const buildRuns = args(build, "RUN").join("\n");
    const installed = /apt-get install([^\n&]*)/.exec(buildRuns)?.[1]?.split(/\s+/) ?? [];
    expect(installed).toEqual(expect.arrayContaining(["python3", "make", "g++"]));
    expect(buildRuns).toContain("npm ci --omit=dev");
    expect(args(runtime, "FROM")[0]).toMatch(/^node:(20|22)-bookworm-slim$/);
    expect(args(runtime, "COPY").some((copy) => copy.startsWith("--from=build "))).toBe(true);
    expect(args(runtime, "RUN").join("\n")).not.toMatch(/g\+\+|build-essential/);
  });

  it("runs as a user that is not root, in production mode, listening beyond loopback", () => {
    const user = args(runtime, "USER").at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:.*)?$/);
    const lastUser = runtime.findLastIndex((i) => i.keyword === "USER");
    expect(lastUser).toBeLessThan(runtime.findIndex((i) => i.keyword === "CMD"));
    expect(env.NODE_ENV).toBe("production");
    expect(env.NODE_OPTIONS).toMatch(/^--max-old-space-size=\d+$/);
    expect(settings.httpHost).toBe("0.0.0.0");
    expect(args(runtime, "EXPOSE")).toEqual([String(settings.httpPort)]);
  });

  it("declares where the settings put the SQLite file (and its -wal) a volume, owned by that user", () => {
    const stateDir = dirname(settings.sqlitePath);
    const volumes = args(runtime, "VOLUME").flatMap((v) =>
      v.startsWith("[") ? (JSON.parse(v) as string[]) : v.split(/\s+/),
    );
    expect(volumes).toContain(stateDir);
    const user = args(runtime, "USER").at(-1) ?? "";
    expect(args(runtime, "RUN").join("\n")).toMatch(new RegExp(`chown ${user}(:${user})? ${stateDir}`));
  });

  it("starts Tenon's installed CLI in exec form, so SIGTERM reaches node", () => {
    const cmd = JSON.parse(args(runtime, "CMD").at(-1) ?? "null") as string[];
    expect(cmd).toEqual(["node", installedBin, "start"]);
  });

  it("its HEALTHCHECK command succeeds against a running Tenon and fails when nothing answers", async () => {
    const healthcheck = args(runtime, "HEALTHCHECK").at(-1) ?? "";
    const [, exec = "null"] = /\bCMD\s+(\[.*\])$/.exec(healthcheck) ?? [];
    const [command, ...commandArgs] = JSON.parse(exec) as string[];
    expect(command).toBe("node");
    const probe = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, commandArgs, { env: { ...process.env, TENON_HTTP_PORT: String(port) } });
        child.once("close", resolve);
      });

    const storage = new SqliteStorage({ path: ":memory:" });
    const engine = testEngine({ storage, integrations: [], worker: false });
    await engine.start();
    const server = createServer({ engine, logger: silentLogger });
    const address = await server.listen({ host: "127.0.0.1", port: 0 });
    const port = Number(new URL(address).port);
    try {
      expect(await probe(port)).toBe(0);
    } finally {
      await server.close();
      await engine.stop();
    }
    expect(await probe(port)).toBe(1);
  });
});

describe("docs/deploy/.dockerignore", () => {
  it("keeps the host's modules, the state and the secrets out of the image", () => {
    const entries = read(".dockerignore")
      .split(/\r?\n/)
      .filter((line) => line && !line.startsWith("#"));
    expect(entries).toEqual(expect.arrayContaining(["node_modules", ".tenon", ".env", "*.db-wal"]));
  });
});

/** A unit file's keys per section; a key given twice keeps both values, in order. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1] as string, current);
      continue;
    }
    const [, key = "", value = ""] = /^([^=]+?)\s*=\s*(.*)$/.exec(line) ?? [];
    current?.set(key, [...(current.get(key) ?? []), value]);
  }
  return sections;
}

function seconds(value: string): number {
  const match = /^(\d+)(ms|s|min)?$/.exec(value);
  if (!match) throw new Error(`not a time span: ${value}`);
  const n = Number(match[1]);
  return match[2] === "ms" ? n / 1000 : match[2] === "min" ? n * 60 : n;
}

describe("docs/deploy/tenon.service", () => {
  const text = read("tenon.service");
  const unit = parseUnit(text);
  const service = unit.get("Service") ?? new Map<string, string[]>();
  const one = (key: string) => service.get(key)?.at(-1);

  it("runs Tenon's CLI as a plain exec service, restarted after a failure, stopped by SIGTERM", () => {
    expect(one("Type")).toBe("exec");
    expect(one("Restart")).toBe("on-failure");
    expect(one("KillSignal")).toBe("SIGTERM");
    expect(one("ExecStart")).toMatch(new RegExp(`^/\\S*node ${installedBin.replace(/\./g, "\\.")} start$`));
    expect(unit.get("Install")?.get("WantedBy")).toEqual(["multi-user.target"]);
  });

  it("waits longer than Tenon's drain before it kills", () => {
    expect(seconds(one("TimeoutStopSec") ?? "0") * 1000).toBeGreaterThanOrEqual(stopDeadlineMs + 10_000);
  });

  it("keeps the SQLite file in its StateDirectory, the one place a strictly protected system lets it write", () => {
    expect(one("User")).toMatch(/^(?!root$)\w+/);
    expect(one("WorkingDirectory")).toMatch(/^\//);
    expect(one("EnvironmentFile")).toMatch(/^-?\//);
    expect(one("NoNewPrivileges")).toBe("yes");
    expect(one("ProtectSystem")).toBe("strict");
    // Not set: V8's JIT needs writable executable memory.
    expect(one("MemoryDenyWriteExecute")).toBeUndefined();
    const env = Object.fromEntries((service.get("Environment") ?? []).map((assignment) => assignment.split(/=(.*)/s)));
    expect(env.NODE_ENV).toBe("production");
    expect(env.NODE_OPTIONS).toBe(`--max-old-space-size=${/--max-old-space-size=(\d+)/.exec(read("Dockerfile"))?.[1]}`);
    const settings = readSettings(env, { cwd: one("WorkingDirectory") ?? "/" });
    const stateDir = `/var/lib/${one("StateDirectory")}`;
    expect(dirname(settings.sqlitePath)).toBe(stateDir);
    expect(one("ReadWritePaths")?.split(/\s+/)).toContain(stateDir);
  });

  const systemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
  it.skipIf(!systemdAnalyze)("passes systemd-analyze verify", () => {
    // The unit names /usr/bin/node; verify checks that the binary exists, so point it at this machine's node.
    const copy = join(tmpdir(), `tenon-${process.pid}.service`);
    writeFileSync(copy, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
    const result = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
  });
});

describe("docs/deploy/nginx.conf", () => {
  const text = read("nginx.conf").replace(/#.*$/gm, "");
  const defaults = readSettings({});
  const location = (path: string) => new RegExp(`location ${path} \\{([^}]*)\\}`).exec(text)?.[1] ?? "";

  it("lets through at least Tenon's body limit, so Tenon answers an oversized webhook itself", () => {
    const [, size = "0", unit = ""] = /client_max_body_size (\d+)([km]?);/.exec(text) ?? [];
    const bytes = Number(size) * (unit === "m" ? 1024 * 1024 : unit === "k" ? 1024 : 1);
    expect(bytes).toBeGreaterThanOrEqual(defaults.bodyLimit);
  });

  it("drops idle upstream connections before Tenon does", () => {
    const [, idle = "0"] = /upstream tenon \{[^}]*keepalive_timeout (\d+)s;/.exec(text) ?? [];
    expect(Number(idle) * 1000).toBeLessThan(defaults.httpLimits.keepAliveTimeoutMs);
  });

  it("exposes /hooks, keeps /api, /oauth, /auth and the dashboard to your own network, and probes to the balancer", () => {
    expect(location("/hooks/")).toContain("proxy_pass http://tenon;");
    expect(location("/hooks/")).not.toContain("deny");
    for (const path of ["/api/", "/oauth/", "/auth/", "/"]) {
      expect(location(path), path).toContain("deny all;");
      expect(location(path), path).toContain("proxy_pass http://tenon;");
    }
    for (const path of ["/health", "/healthz", "/readyz", "/metrics"]) {
      expect(location(`= ${path}`), path).toContain("return 404;");
    }
  });
});

describe("docs/deployment.md", () => {
  const doc = readFileSync(join(root, "docs/deployment.md"), "utf8");
  const shipped = readdirSync(deployDir).map((name) => read(name));

  it("names only settings the code reads", () => {
    const source = readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" })
      .filter((path) => path.endsWith(".ts"))
      .map((path) => readFileSync(join(root, "src", path), "utf8"))
      .join("\n");
    const named = new Set([doc, ...shipped].flatMap((text) => text.match(/\bTENON_[A-Z_]+[A-Z]\b/g) ?? []));
    expect(named.size).toBeGreaterThan(10);
    for (const name of named) expect(source, name).toContain(`"${name}"`);
  });

  it("links only to files that exist", () => {
    const links = [...doc.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1] as string);
    expect(links).toEqual(expect.arrayContaining(["deploy/Dockerfile", "deploy/tenon.service", "deploy/nginx.conf"]));
    for (const link of links.filter((l) => !/^https?:/.test(l))) {
      expect(existsSync(join(root, "docs", link)), link).toBe(true);
    }
  });
});
