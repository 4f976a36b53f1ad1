import { Command, InvalidArgumentError, Option } from "commander";
import { defaultConfigPath } from "../config/load-config.ts";
import { readSettings } from "../config/settings.ts";
import { ConfigurationError, ValidationError } from "../sdk/errors.ts";
import { runStatuses } from "./run-statuses.ts";

// Each command imports its module when it runs, so `tenon runs` does not pay for the demo and vice versa.
const program = new Command("tenon")
  .description("Tenon: a self-hosted durable integration engine")
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

const configOption = () =>
  new Option("-c, --config <path>", "the tenon.config.ts to load, relative to the working directory").default(
    defaultConfigPath,
  );

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
  .command("runs")
  .description("list the most recent runs, newest first")
  .addOption(new Option("-s, --status <status>", "only runs in this status").choices(runStatuses))
  .option("-i, --integration <id>", "only runs of this integration")
  .option("-n, --limit <n>", "how many runs to show", parseLimit, 20)
  .action(async (options: { status?: string; integration?: string; limit: number }) => {
    const { runsCommand } = await import("./commands/runs.ts");
    await runsCommand(options);
  });

program
  .command("replay")
  .description("put a run back in the queue; it resumes at its first incomplete step")
  .argument("<runId>", "the run to replay (see `tenon runs`)")
  .action(async (runId: string) => {
    const { replayRunCommand } = await import("./commands/replay.ts");
    await replayRunCommand(runId);
  });

program
  .command("replay-event")
  .description("start fresh runs for a stored event, one per integration in the config it matches")
  .argument("<eventId>", "the stored event to replay")
  .addOption(configOption())
  .action(async (eventId: string, options: { config: string }) => {
    const { replayEventCommand } = await import("./commands/replay.ts");
    await replayEventCommand(eventId, options);
  });

program
  .command("demo")
  .description("run the example integrations on a fresh SQLite file with simulated traffic and a live summary")
  .action(async () => {
    const { demoCommand } = await import("./commands/demo.ts");
    await demoCommand();
  });

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
