import { loadConfig } from "../../config/load-config.ts";
import { readSettings } from "../../config/settings.ts";
import { createEngine, type Engine } from "../../engine/engine.ts";
import type { Integration } from "../../sdk/define-integration.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

/** `tenon replay <runId>`: requeues the run; the process running `tenon start` executes it. */
export async function replayRunCommand(runId: string): Promise<void> {
  // Replaying a run keeps its journal and needs no integration code, so no config is loaded.
  const run = await withProducerEngine([], (engine) => engine.replay(runId));
  console.log(`run ${run.id} (${run.integrationId}) is ${run.status} again; it resumes at its first incomplete step.`);
  console.log("A running `tenon start` picks it up within a second.");
}

/** `tenon replay-event <eventId>`: starts fresh runs for the event, matched against the config's integrations. */
export async function replayEventCommand(eventId: string, options: { config: string }): Promise<void> {
  const config = await loadConfig(options.config);
  const runIds = await withProducerEngine(config.integrations, (engine) => engine.replayEvent(eventId));
  if (runIds.length === 0) {
    console.log(`event ${eventId} matches no integration in ${options.config}; no run was started.`);
    return;
  }
  console.log(`event ${eventId}: started ${runIds.length} new run(s):`);
  for (const id of runIds) console.log(`  ${id}`);
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
