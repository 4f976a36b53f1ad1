import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { defaultConfigPath } from "../config/load-config.ts";
import { parseWebhookTimeScale, readSettings } from "../config/settings.ts";
import { ConfigurationError, ValidationError } from "../sdk/errors.ts";
import { runStatuses } from "../storage/run-statuses.ts";
import type { DriftListOptions } from "./commands/drift.ts";
import type { EventsOptions } from "./commands/events.ts";
import type { ReplayEventsOptions, ReplayRunsOptions } from "./commands/replay.ts";
import type { RunsOptions } from "./commands/runs.ts";
import type { SandboxCommandOptions } from "./commands/sandbox.ts";
import type { SearchOptions } from "./commands/search.ts";
import { eventStatusChoices } from "./event-statuses.ts";
import { parseSinceOption } from "./since-option.ts";
import { parseUntilOption } from "./until-option.ts";

// Each command imports its module when it runs, so `tenon runs` does not pay for the demo and vice versa.
const program = new Command("tenon")
  .description("Tenon: a self-hosted durable integration engine")
  .version(readOwnVersion(), "-v, --version", "print the version of Tenon")
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

const configOption = () =>
  new Option("-c, --config <path>", "the tenon.config.ts to load, relative to the working directory").default(
    defaultConfigPath,
  );

program
  .command("init")
  .description(
    "scaffold a project in [dir]: tenon.config.ts, an integration and its test, runnable offline against the sandbox",
  )
  .argument("[dir]", "where to create the project (made if missing)", ".")
  .option(
    "--force",
    "overwrite the scaffold's files where they exist (package.json and .gitignore are merged either way)",
  )
  .action(async (dir: string, options: { force?: boolean }) => {
    const { initCommand } = await import("./commands/init.ts");
    await initCommand(dir, options);
  });

program
  .command("start")
  .description("run the engine: the worker and the schedules of the integrations in the config")
  .addOption(configOption())
  .action(async (options: { config: string }) => {
    const { startCommand } = await import("./commands/start.ts");
    await startCommand(options);
  });

program
  .command("migrate")
  .description("create or upgrade the database schema (start does this too)")
  .action(async () => {
    const { migrateCommand } = await import("./commands/migrate.ts");
    await migrateCommand();
  });

program
  .command("backup")
  .description("write a consistent copy of the SQLite database to <file>, while the engine keeps running")
  .argument("<file>", "where to write the backup")
  .option("--force", "replace <file> if it exists")
  .action(async (file: string, options: { force?: boolean }) => {
    const { backupCommand } = await import("./commands/backup.ts");
    await backupCommand(file, options);
  });

const keys = program.command("keys").description("the master key that encrypts stored credentials");

keys
  .command("generate")
  .description("print a new random master key (base64) for TENON_MASTER_KEY")
  .action(async () => {
    const { generateKeyCommand } = await import("./commands/keys.ts");
    generateKeyCommand();
  });

keys
  .command("rotate")
  .description("re-encrypt every stored secret under a new master key, while the engine keeps running")
  .action(async () => {
    const { rotateKeysCommand } = await import("./commands/keys.ts");
    await rotateKeysCommand();
  });

const tokens = program
  .command("tokens")
  .description(
    "API tokens and their roles: viewer (read), operator (+ replay, re-authorise), admin (+ credentials, keys)",
  );

tokens
  .command("create")
  .description("make an API token and print it, once; only its hash is stored")
  .requiredOption("--role <role>", "viewer, operator or admin")
  .requiredOption("--name <name>", "who or what uses it (shown in the operator log); never reused")
  .action(async (options: { role: string; name: string }) => {
    const { createTokenCommand } = await import("./commands/tokens.ts");
    await createTokenCommand(options);
  });

tokens
  .command("list", { isDefault: true })
  .description("every API token's name, role, creation, last use and status (never the token)")
  .action(async () => {
    const { listTokensCommand } = await import("./commands/tokens.ts");
    await listTokensCommand();
  });

tokens
  .command("revoke")
  .description("stop accepting a token made by `tenon tokens create` (within 5 s in running processes)")
  .argument("<name>", "the token's name (see `tenon tokens list`)")
  .action(async (name: string) => {
    const { revokeTokenCommand } = await import("./commands/tokens.ts");
    await revokeTokenCommand(name);
  });

program
  .command("dashboard-link")
  .description("print a one-time link that signs a browser in to the dashboard (works once, within 10 minutes)")
  .option("--role <role>", "the session's role: viewer, operator or admin", "admin")
  .option("--name <name>", "who the session acts as, in the operator log (default: your OS user name)")
  .action(async (options: { role: string; name?: string }) => {
    const { dashboardLinkCommand } = await import("./commands/dashboard-link.ts");
    await dashboardLinkCommand(options);
  });

const alerts = program
  .command("alerts")
  .description("alerts raised by the rules in tenon.config.ts (alerts): list, acknowledge, snooze");

alerts
  .command("list", { isDefault: true })
  .description("alerts, newest first (firing ones unless --status or --all)")
  .option("--status <status>", "firing or resolved")
  .option("--all", "firing and resolved")
  .option("--json", "as JSON, the same shape as GET /api/alerts")
  .action(async (options: { status?: string; all?: boolean; json?: boolean }) => {
    const { listAlertsCommand } = await import("./commands/alerts.ts");
    await listAlertsCommand(options);
  });

alerts
  .command("ack")
  .description("acknowledge a firing alert: no more notifications until it resolves")
  .argument("<fingerprint>", "the alert's fingerprint (see `tenon alerts`)")
  .action(async (fingerprint: string) => {
    const { ackAlertCommand } = await import("./commands/alerts.ts");
    await ackAlertCommand(fingerprint);
  });

alerts
  .command("snooze")
  .description("no notification for a firing alert for a while (e.g. 2h)")
  .argument("<fingerprint>", "the alert's fingerprint (see `tenon alerts`)")
  .argument("<duration>", "how long: 30m, 2h, 1d (at most 30d)")
  .action(async (fingerprint: string, duration: string) => {
    const { snoozeAlertCommand } = await import("./commands/alerts.ts");
    await snoozeAlertCommand(fingerprint, duration);
  });

const connections = program
  .command("connections")
  .description("the external systems runs call: their state, credentials and authorisation");

connections
  .command("list", { isDefault: true })
  .description("each connection's auth, status, credential expiry, circuit and paused runs")
  .addOption(configOption())
  .action(async (options: { config: string }) => {
    const { listConnectionsCommand } = await import("./commands/connections.ts");
    await listConnectionsCommand(options);
  });

connections
  .command("set-credentials")
  .description("store credentials (sealed), read as a JSON object from stdin, and resume the runs paused on them")
  .argument("<name>", "the connection, as named in the config")
  .option("--replace", "drop the stored fields not given, instead of keeping them")
  .option("--expires-at <iso>", "when these credentials stop working (ISO 8601), for expiry warnings")
  .addOption(configOption())
  .action(async (name: string, options: { config: string; replace?: boolean; expiresAt?: string }) => {
    const { setCredentialsCommand } = await import("./commands/connections.ts");
    await setCredentialsCommand(name, options);
  });

connections
  .command("authorize")
  .description("print the URL that starts an OAuth authorisation of the connection in a browser")
  .argument("<name>", "the connection, as named in the config")
  .addOption(configOption())
  .action(async (name: string, options: { config: string }) => {
    const { authorizeCommand } = await import("./commands/connections.ts");
    await authorizeCommand(name, options);
  });

program
  .command("audit")
  .description("list the most recent outbound requests of connections, newest first (secrets redacted)")
  .option("-r, --run <id>", "only requests made by this run")
  .option("--connection <name>", "only requests to this connection")
  .option("-n, --limit <n>", "how many requests to show", parseLimit, 50)
  .action(async (options: { run?: string; connection?: string; limit: number }) => {
    const { auditCommand } = await import("./commands/connections.ts");
    await auditCommand(options);
  });

const runs = program.command("runs").description("the runs of integrations: what they did, when, and what went wrong");

runs
  .command("list", { isDefault: true })
  .description("list the most recent runs, newest first, each failing one with its last error; or count them by status")
  .addOption(new Option("-s, --status <status>", "only runs in this status").choices(runStatuses))
  .option("-i, --integration <id>", "only runs of this integration")
  .option("--since <duration>", "only runs created this recently, e.g. 30m, 1h, 2d", parseSinceOption)
  .option("--until <time>", "only runs created before this: a duration back (2h) or an ISO time", parseUntilOption)
  .option("-n, --limit <n>", "how many runs to show", parseLimit, 20)
  .option("--count", "print how many runs are in each status instead (--limit does not apply)")
  .option("--json", "print JSON: an array of runs, last errors in full; with --count, an object of counts by status")
  .action(async (options: RunsOptions) => {
    const { runsCommand } = await import("./commands/runs.ts");
    await runsCommand(options);
  });

runs
  .command("show")
  .description(
    "one run's timeline: its event, every attempt of each step (errors in full), waits, sleeps, interruptions, replays, its outbound requests and the incidents of their connections",
  )
  .argument("<runId>", "the run (see `tenon runs`)")
  .option("--json", "print one JSON object")
  .action(async (runId: string, options: { json?: boolean }) => {
    const { showRunCommand } = await import("./commands/runs-show.ts");
    await showRunCommand(runId, options);
  });

const events = program
  .command("events")
  .description("the events received (webhooks, polls, schedules, the API): what was stored and what became of it");

events
  .command("list", { isDefault: true })
  .description("list the most recent events, newest first, with the reason of each quarantined one")
  .addOption(
    new Option(
      "-s, --status <status>",
      "only events in this status: accepted (runs started; `processed` means the same), unmatched (no integration listens), quarantined (kept with a reason, no runs)",
    ).choices(eventStatusChoices),
  )
  .option("--source <id>", "only events from this source")
  .option("--since <duration>", "only events received this recently, e.g. 30m, 1h, 2d", parseSinceOption)
  .option("-n, --limit <n>", "how many events to show", parseLimit, 20)
  .option("--json", "print JSON: an array of events, quarantine reasons in full")
  .action(async (options: EventsOptions) => {
    const { listEventsCommand } = await import("./commands/events.ts");
    await listEventsCommand(options);
  });

events
  .command("show")
  .description(
    "one event whole: its reason, its payload as stored (a quarantined webhook's body as received), its runs",
  )
  .argument("<eventId>", "the stored event (see `tenon events`)")
  .option("--json", "print one JSON object")
  .action(async (eventId: string, options: { json?: boolean }) => {
    const { showEventCommand } = await import("./commands/events.ts");
    await showEventCommand(eventId, options);
  });

program
  .command("search")
  .description(
    "everything about a business entity: the runs tagged with it, their events and their outbound requests, newest first",
  )
  .argument("<kind:value...>", 'e.g. order:1001; several terms must all match (customer:"Ada Lovelace" for spaces)')
  .option("-n, --limit <n>", "how many runs to show (at most 100)", parseLimit, 20)
  .option("--cursor <cursor>", "the next page, as the previous one printed it")
  .option("--json", "print the same JSON object as GET /api/search")
  .action(async (terms: string[], options: SearchOptions) => {
    const { searchCommand } = await import("./commands/search.ts");
    await searchCommand(terms, options);
  });

const webhooks = program
  .command("webhooks")
  .description("operational webhooks: the subscribers told about dead runs, failing connections, alerts and drift");

webhooks
  .command("list", { isDefault: true })
  .description("each subscriber's URL, events and state (active, failing, disabled), last success, failing since")
  .option("--json", "print the subscribers as JSON")
  .addOption(configOption())
  .action(async (options: { config: string; json?: boolean }) => {
    const { listWebhooksCommand } = await import("./commands/webhooks.ts");
    await listWebhooksCommand(options);
  });

webhooks
  .command("enable")
  .description("deliver to a disabled subscriber again (its failures are forgotten); written to the operator log")
  .argument("<name>", "the subscriber, as named under operationalWebhooks in the config")
  .addOption(configOption())
  .action(async (name: string, options: { config: string }) => {
    const { enableWebhookCommand } = await import("./commands/webhooks.ts");
    await enableWebhookCommand(name, options);
  });

const drift = program
  .command("drift")
  .description("API drift: fields the connected APIs and webhook sources added, dropped or retyped without warning");

drift
  .command("list", { isDefault: true })
  .description("the open drift incidents, newest first (breaking: a field a connector or an integration reads)")
  .option("-n, --limit <n>", "how many to show", parseLimit, 50)
  .option("--all", "accepted incidents too")
  .option("--breaking", "breaking incidents only")
  .option("--json", "print the incidents as JSON")
  .action(async (options: DriftListOptions) => {
    const { listDriftCommand } = await import("./commands/drift.ts");
    await listDriftCommand(options);
  });

drift
  .command("accept")
  .description("accept the new shape of an incident's route or event as the baseline (closes its open incidents)")
  .argument("<id>", "the incident's id (see `tenon drift`)")
  .action(async (id: string) => {
    const { acceptDriftCommand } = await import("./commands/drift.ts");
    await acceptDriftCommand(id);
  });

const reconcile = program
  .command("reconcile")
  .description("reconciliations (reconciliations in tenon.config.ts): run one, read its reports");

reconcile
  .command("list", { isDefault: true })
  .description("the reconciliations, their open findings and newest report")
  .option("--json", "as JSON, the same shape as GET /api/reconciliations")
  .action(async (options: { json?: boolean }) => {
    const { reconcileListCommand } = await import("./commands/reconcile.ts");
    await reconcileListCommand(options);
  });

reconcile
  .command("run")
  .description("run a reconciliation now (a worker of `tenon start` runs it) and print its report")
  .argument("<id>", "the reconciliation's id")
  .option("--config <path>", "the config file", defaultConfigPath)
  .option("--dry-run", "list and match only: report what it would repair, settle and repair nothing")
  .option("--full", "a full pass, even for an incremental reconciliation whose last full pass is recent")
  .option("--no-wait", "start the run and return at once")
  .option("--timeout <seconds>", "how long to wait for the run", parseSeconds, 600)
  .option("--json", "print the report as JSON, the same shape as GET /api/reconciliations/:id/reports/:n")
  .action(
    async (
      id: string,
      options: { config: string; dryRun?: boolean; full?: boolean; wait?: boolean; timeout: number; json?: boolean },
    ) => {
      const { reconcileRunCommand } = await import("./commands/reconcile.ts");
      await reconcileRunCommand(id, { ...options, timeoutMs: options.timeout * 1000 });
    },
  );

reconcile
  .command("report")
  .description("a reconciliation's newest report (or report n): its counts and findings")
  .argument("<id>", "the reconciliation's id")
  .argument("[n]", "the report's number (default: the newest)")
  .option("-n, --limit <n>", "how many findings to show", parseLimit, 100)
  .option("--json", "as JSON, the same shape as GET /api/reconciliations/:id/reports/:n")
  .action(async (id: string, n: string | undefined, options: { json?: boolean; limit: number }) => {
    const { reconcileReportCommand } = await import("./commands/reconcile.ts");
    await reconcileReportCommand(id, n, options);
  });

program
  .command("replay")
  .description(
    "put a run back in the queue (it resumes at its first incomplete step), or with --status every dead or failed run that matches",
  )
  .argument("[runId]", "the run to replay (see `tenon runs`)")
  .addOption(
    new Option(
      "-s, --status <status>",
      "replay every run in this status that had finished when the command started",
    ).choices(["dead", "failed"]),
  )
  .option("-i, --integration <id>", "with --status: only runs of this integration")
  .option("--since <duration>", "with --status: only runs created this recently, e.g. 30m, 24h", parseSinceOption)
  .option(
    "--until <time>",
    "with --status: only runs created before this: a duration back (2h) or an ISO time",
    parseUntilOption,
  )
  .option(
    "--rps <n>",
    "with --status: at most n runs replayed per second, to spare a downstream that just recovered",
    parseLimit,
  )
  .option("--dry-run", "with --status: print how many runs would be replayed, and the first few; change nothing")
  .action(async (runId: string | undefined, options: ReplayRunsOptions) => {
    const { replayRunCommand } = await import("./commands/replay.ts");
    await replayRunCommand(runId, options);
  });

program
  .command("replay-event")
  .description(
    "start fresh runs for a stored event, one per integration in the config it matches; with --status quarantined, judge every quarantined event again under the current config",
  )
  .argument("[eventId]", "the stored event to replay (see `tenon events`)")
  .addOption(
    new Option(
      "-s, --status <status>",
      "replay every event in this status received before the command started",
    ).choices(["quarantined"]),
  )
  .option("--source <id>", "with --status: only events from this source")
  .option("--since <duration>", "with --status: only events received this recently, e.g. 30m, 24h", parseSinceOption)
  .option(
    "--until <time>",
    "with --status: only events received before this: a duration back (2h) or an ISO time",
    parseUntilOption,
  )
  .option("--dry-run", "with --status: print how many events would be replayed, and the first few; change nothing")
  .addOption(configOption())
  .action(async (eventId: string | undefined, options: ReplayEventsOptions) => {
    const { replayEventCommand } = await import("./commands/replay.ts");
    await replayEventCommand(eventId, options);
  });

program
  .command("demo")
  .description("the example integrations against the sandbox, with traffic, faults and a live summary (npm start)")
  .action(async () => {
    const { demoCommand } = await import("./commands/demo.ts");
    await demoCommand();
  });

program
  .command("dev")
  .description("your integrations against the sandbox on a local SQLite file, with a live summary")
  .addOption(configOption())
  .option(
    "--sandbox-port <port>",
    "the sandbox's port, any free one if taken (default: TENON_SANDBOX_PORT, else 4010)",
    parsePort,
  )
  .action(async (options: { config: string; sandboxPort?: number }) => {
    const { devCommand } = await import("./commands/dev.ts");
    await devCommand(options);
  });

// The engine process `tenon dev` starts, and replaces when the project changes.
program
  .command("dev-engine", { hidden: true })
  .addOption(configOption())
  .requiredOption("--log <path>", "where the engine writes its log")
  .action(async (options: { config: string; log: string }) => {
    const { devEngineCommand } = await import("./commands/dev-engine.ts");
    await devEngineCommand(options);
  });

program
  .command("sandbox")
  .description("run the simulated systems (store, payments, crm, accounting, inventory, email, sms, scheduling)")
  .option("-p, --port <port>", "port to listen on", parsePort, 4010)
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--webhooks <url>", "send each system's webhooks to <url>/<system> (e.g. http://127.0.0.1:3000/hooks)")
  .option(
    "--webhook-time-scale <factor>",
    "retry webhooks <factor> times faster than the providers do (3600: hours become seconds; default 1, or TENON_SANDBOX_WEBHOOK_TIME_SCALE)",
    (value: string) => parseCliWebhookTimeScale(value),
  )
  .option("--write-env-file <path>", "also write the variables a config reads to <path>, as NAME=value lines (dotenv)")
  .option("--json", "print one JSON object (url, systems, environment) instead of the banner")
  .action(async (options: SandboxCommandOptions) => {
    const { sandboxCommand } = await import("./commands/sandbox.ts");
    await sandboxCommand(options);
  });

function parseCliWebhookTimeScale(value: string): number {
  try {
    return parseWebhookTimeScale(value, "--webhook-time-scale");
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** src/cli/ and dist/cli/ are both two levels below the package root. */
function readOwnVersion(): string {
  const manifest = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(manifest) as { version: string }).version;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError("must be a port number from 0 to 65535");
  return port;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 1) throw new InvalidArgumentError("must be a whole number of seconds ≥ 1");
  return seconds;
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > 10_000) {
    throw new InvalidArgumentError("must be a whole number from 1 to 10000");
  }
  return limit;
}

try {
  await program.parseAsync();
} catch (error) {
  console.error(`tenon: ${describeFailure(error)}`);
  process.exitCode = 1;
}

/** Our errors say what to do in their message; a stack only helps with a bug, so it shows at debug level. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const known = error instanceof ConfigurationError || error instanceof ValidationError;
  if (known || !(error instanceof Error) || !error.stack) return message;
  return wantsStacks() ? error.stack : `${message}\n(set TENON_LOG_LEVEL=debug to see where it came from)`;
}

function wantsStacks(): boolean {
  try {
    return ["debug", "trace"].includes(readSettings().logLevel);
  } catch {
    return false;
  }
}
