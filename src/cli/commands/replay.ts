import { loadConfig } from "../../config/load-config.ts";
import { readSettings } from "../../config/settings.ts";
import { createEngine, type Engine } from "../../engine/engine.ts";
import { resolveWebhookSources, type WebhookSource } from "../../ingestion/webhooks/webhook-sources.ts";
import { replayStoredEvent } from "../../replay/replay-stored-event.ts";
import type { Integration } from "../../sdk/define-integration.ts";
import { ValidationError } from "../../sdk/errors.ts";
import { cliReplayActor, recordCliAction } from "../cli-operator-log.ts";
import { replayEventsInBulk } from "../replay-events-in-bulk.ts";
import { replayRunsInBulk } from "../replay-runs-in-bulk.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

export interface ReplayRunsOptions {
  status?: "dead" | "failed";
  integration?: string;
  /** How far back, in milliseconds: runs created this recently. */
  since?: number;
  /** Runs created before this time (epoch ms). */
  until?: number;
  dryRun?: boolean;
  rps?: number;
}

export interface ReplayEventsOptions {
  config: string;
  status?: "quarantined";
  source?: string;
  since?: number;
  until?: number;
  dryRun?: boolean;
}

/** `tenon replay <runId>`, or `tenon replay --status dead …` for every run that matches. */
export async function replayRunCommand(runId: string | undefined, options: ReplayRunsOptions): Promise<void> {
  if (runId === undefined) {
    if (options.status === undefined) {
      throw new ValidationError("give a run id, or --status dead (or failed) to replay every run in that status");
    }
    const { status, integration, since, until } = options;
    const selection = {
      status,
      ...(integration === undefined ? {} : { integrationId: integration }),
      ...(since === undefined ? {} : { createdSince: Date.now() - since }),
      ...(until === undefined ? {} : { createdBefore: until }),
    };
    const storage = await openExistingStorage(readSettings());
    try {
      // Prepares the transitions' statements; a no-op on an up-to-date database.
      await storage.migrate();
      const dryRun = options.dryRun === true;
      const tally = await replayRunsInBulk(storage, { selection, dryRun, rps: options.rps, actor: cliReplayActor() });
      if (tally) {
        await recordCliAction(storage, {
          action: "tenon replay",
          detail: `${describeSelection(options)}: ${tally.summary()}`,
        });
      }
    } finally {
      await storage.close();
    }
    return;
  }
  if (options.status !== undefined || options.dryRun) {
    throw new ValidationError("give either a run id or --status, not both");
  }
  // Replaying a run keeps its journal and needs no integration code, so no config is loaded.
  const run = await withProducerEngine([], (engine) =>
    logged(engine, { action: "tenon replay", target: runId }, () => engine.replay(runId, { actor: cliReplayActor() })),
  );
  console.log(`run ${run.id} (${run.integrationId}) is ${run.status} again; it resumes at its first incomplete step.`);
  console.log("A running `tenon start` picks it up within a second.");
}

/** `tenon replay-event <eventId>`, or `tenon replay-event --status quarantined …` for every quarantined event. */
export async function replayEventCommand(eventId: string | undefined, options: ReplayEventsOptions): Promise<void> {
  if (eventId !== undefined && (options.status !== undefined || options.dryRun)) {
    throw new ValidationError("give either an event id or --status quarantined, not both");
  }
  if (eventId === undefined && options.status === undefined) {
    throw new ValidationError("give an event id, or --status quarantined to replay every quarantined event");
  }
  const config = await loadConfig(options.config);
  const sources = resolveWebhookSources(config.webhooks ?? {});
  await withProducerEngine(config.integrations, async (engine) => {
    const action = "tenon replay-event";
    if (eventId !== undefined) {
      return logged(engine, { action, target: eventId }, () =>
        replayOneEvent(engine, sources, eventId, options.config),
      );
    }
    const { source, since, until } = options;
    const selection = {
      ...(source === undefined ? {} : { source }),
      ...(since === undefined ? {} : { receivedSince: Date.now() - since }),
      ...(until === undefined ? {} : { receivedBefore: until }),
    };
    const tally = await replayEventsInBulk(engine, sources, { selection, dryRun: options.dryRun === true });
    if (tally)
      await recordCliAction(engine.storage, {
        action,
        detail: `${describeSelection(options)}: ${tally.summary()}`,
      });
  });
}

async function replayOneEvent(
  engine: Engine,
  sources: ReadonlyMap<string, WebhookSource>,
  eventId: string,
  configPath: string,
): Promise<void> {
  const result = await replayStoredEvent(engine, sources, eventId);
  if (!result.quarantined) {
    if (result.runIds.length === 0) {
      console.log(`event ${eventId} matches no integration in ${configPath}; no run was started.`);
      return;
    }
    console.log(`event ${eventId}: started ${result.runIds.length} new run(s):`);
    for (const id of result.runIds) console.log(`  ${id}`);
    return;
  }
  if (result.status === "accepted")
    console.log(`event ${eventId} is accepted now; started ${result.runIds.length} run(s):`);
  else if (result.status === "unmatched")
    console.log(`event ${eventId} matches no integration in ${configPath}: it is unmatched now.`);
  else if (result.status === "quarantined") console.log(`event ${eventId} stays quarantined: ${result.reason}`);
  else console.log(`event ${eventId} was not replayed: ${result.reason}`);
  if (result.status === "accepted") for (const id of result.runIds) console.log(`  ${id}`);
}

/** Runs one replay and writes it to the operator log, failed or not. */
async function logged<T>(
  engine: Engine,
  entry: { action: string; target: string },
  replay: () => Promise<T>,
): Promise<T> {
  try {
    const result = await replay();
    await recordCliAction(engine.storage, { ...entry, detail: "replayed" });
    return result;
  } catch (error) {
    await recordCliAction(engine.storage, { ...entry, detail: `failed: ${(error as Error).message}` });
    throw error;
  }
}

/** A bulk replay's selection as the operator gave it, for the operator log. */
function describeSelection(options: ReplayRunsOptions | ReplayEventsOptions): string {
  const parts = [`--status ${options.status}`];
  if ("integration" in options && options.integration !== undefined) parts.push(`--integration ${options.integration}`);
  if ("source" in options && options.source !== undefined) parts.push(`--source ${options.source}`);
  if (options.since !== undefined) parts.push(`--since ${Math.round(options.since / 1000)}s`);
  if (options.until !== undefined) parts.push(`--until ${new Date(options.until).toISOString()}`);
  return parts.join(" ");
}

/** An engine that only writes (no worker, no schedules), so it can sit beside the process running `tenon start`. */
async function withProducerEngine<T>(
  // biome-ignore lint/suspicious/noExplicitAny: integrations of any payload type live side by side
  integrations: Integration<any, any>[],
  use: (engine: Engine) => Promise<T>,
): Promise<T> {
  const storage = await openExistingStorage(readSettings());
  try {
    const engine = createEngine({ storage, integrations, worker: false });
    await engine.start();
    const result = await use(engine);
    await engine.stop();
    return result;
  } finally {
    await storage.close();
  }
}
