import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { readSandboxPort, readSandboxWebhookTimeScale, readSettings } from "../../config/settings.ts";
import { freePort, sendSandboxWebhooksTo, startDevSandbox } from "../../demo/dev-environment.ts";
import { devSignInLink } from "../../demo/dev-sign-in.ts";
import { startDevSupervisor } from "../../demo/dev-supervisor.ts";
import { engineSummary } from "../../demo/engine-summary.ts";
import { startLiveSummary } from "../../demo/live-summary.ts";
import { watchProject } from "../../demo/watch-project.ts";
import { ConfigurationError } from "../../sdk/errors.ts";
import { openStorage } from "../../storage/open-storage.ts";
import { onShutdownSignal } from "../shutdown.ts";

/**
 * `tenon dev`: your project's integrations against the sandbox, on a fresh local SQLite file, with the
 * live summary, reloaded when a file of the project changes. This process keeps the sandbox and the
 * summary; the engine runs in a child process on the same database and port, replaced at each change
 * (src/demo/dev-supervisor.ts). The sandbox's credentials are in the environment your config reads
 * (`tenon sandbox` lists them); drive it with its control routes (`POST /_sandbox/store/orders`, faults, …).
 */
export async function devCommand(options: { config: string; sandboxPort?: number | undefined }): Promise<void> {
  const settings = readSettings(process.env, { defaultSqlitePath: ".tenon/dev.db" });
  const webhookTimeScale = readSandboxWebhookTimeScale() ?? 1;
  const configPath = resolve(options.config);
  if (!existsSync(configPath)) {
    throw new ConfigurationError(
      `no config file at ${options.config}; create it with \`export default defineConfig({ integrations: [...] })\` or pass --config <path>`,
    );
  }
  const projectDirectory = dirname(configPath);
  const directory = join(process.cwd(), ".tenon");
  mkdirSync(directory, { recursive: true });
  const databasePath = settings.sqlitePath;
  const logPath = join(directory, "dev.log");
  // The sandbox starts empty with new credentials each time, so runs and stored tokens of an earlier
  // session would point at records and grants that no longer exist: each session starts from nothing.
  for (const file of [databasePath, `${databasePath}-wal`, `${databasePath}-shm`, logPath])
    rmSync(file, { force: true });

  // Real time unless asked: what a developer sees here is what the providers will do.
  const sandboxPort = options.sandboxPort ?? readSandboxPort();
  const { sandbox, environment } = await startDevSandbox({ sandboxPort, webhookTimeScale });
  // Chosen once: the sandbox's webhooks keep reaching whichever engine process runs.
  const httpPort = await freePort(settings.httpHost, settings.httpPort);
  const host = settings.httpHost.includes(":") ? `[${settings.httpHost}]` : settings.httpHost;
  const signIn = await writeSignInLink(databasePath, settings.sqliteSynchronous, `http://${host}:${httpPort}`);
  const shown = (path: string) => relative(process.cwd(), path) || ".";
  const watched = shown(projectDirectory) === "." ? "this directory" : shown(projectDirectory);
  console.log(
    [
      `Tenon dev: ${shown(configPath)} against the sandbox, reloaded when a file in ${watched} changes. Press Ctrl-C to stop.`,
      `  Tenon     http://${host}:${httpPort}   the dashboard; the API at /api, webhooks at /hooks/<source>`,
      `  Sign in   ${signIn}   (as admin; works once, within 10 minutes)`,
      `  Sandbox   ${sandbox.url}/_sandbox   state at /_sandbox/<system>/state, faults at /_sandbox/<system>/faults`,
      `  Database ${shown(databasePath)}; engine log ${shown(logPath)}`,
      `  Environment: ${Object.keys(environment).join(", ")}`,
      "",
    ].join("\n"),
  );

  const startedAt = Date.now();
  const supervisor = startDevSupervisor({
    configPath,
    logPath,
    env: { ...process.env, TENON_SQLITE_PATH: databasePath, TENON_HTTP_PORT: String(httpPort) },
    say: (message) => summary.print(message),
    onReady: (address, sources) => sendSandboxWebhooksTo(sandbox, address, sources),
  });
  const summary = startLiveSummary(process.stdout, async () =>
    engineSummary(await supervisor.counts(), sandbox, {
      title: "Tenon dev",
      elapsedMs: Date.now() - startedAt,
      extra: [`engine       ${supervisor.status()}`],
    }),
  );
  const watcher = watchProject(projectDirectory, {
    onChange: (changed) => supervisor.reload(changed),
    ignoredPrefixes: [databasePath, logPath],
  });
  // A second Ctrl-C exits at once (see onShutdownSignal): the engine process goes too.
  process.on("exit", () => supervisor.kill());
  onShutdownSignal(async (reason) => {
    watcher.close();
    summary.freeze(`stopping (${reason}): letting the runs in flight finish…`);
    // The engine first: the runs in flight still talk to the sandbox while they finish.
    await supervisor.stop();
    await sandbox.close();
  });
}

/**
 * The dev sign-in link, written to the fresh database before the engine process opens it (this process
 * migrates it first; the engine finds it up to date).
 */
async function writeSignInLink(databasePath: string, synchronous: "FULL" | "NORMAL", baseUrl: string): Promise<string> {
  const storage = await openStorage({ sqlitePath: databasePath, sqliteSynchronous: synchronous });
  try {
    await storage.migrate();
    return await devSignInLink(storage.sessions, baseUrl);
  } finally {
    await storage.close();
  }
}
