/**
 * Where a run of `bench/e2e.ts` spent its time, read from what Tenon stored after the server stopped: the run's
 * creation (its event committed), its first claim, each step's start and end, and its finish. Means over the
 * succeeded runs, in milliseconds.
 *
 *   queued               created → first claimed: the backlog (and the claim's own wait for a free slot)
 *   claim to step 1      claimed → its first step started: the claim's transaction and fsync, and the event loop
 *   step                 a step's function (one POST to the sink through the connection), on average
 *   between steps        a step ended → the next started: the step's record committed (group commit + fsync)
 *   last step to finish  the last step ended → the run's completion written: the last step's record committed
 *   executing            claimed → finished
 */
import Database from "better-sqlite3";
import { withPg } from "./stored-events.ts";

/** The integration's steps, in order: each is one POST to the sink (bench/e2e-server.ts). */
export const e2eSteps = ["create-order", "record-payment", "notify-customer"] as const;

export interface RunAnatomy {
  runs: number;
  queuedMs: number;
  claimToFirstStepMs: number;
  stepMs: number;
  betweenStepsMs: number;
  lastStepToFinishMs: number;
  executingMs: number;
}

/** The same SQL on both backends; `$1`, `$2`, `$3` are the step names, in that order (SQLite takes them as `?`). */
function anatomySql(schema: string): string {
  return `SELECT count(*) AS runs,
      avg(r.started_at - r.created_at) AS queued,
      avg(s1.started_at - r.started_at) AS claim_to_first_step,
      avg((s1.updated_at - s1.started_at) + (s2.updated_at - s2.started_at) + (s3.updated_at - s3.started_at)) / 3.0 AS step,
      avg((s2.started_at - s1.updated_at) + (s3.started_at - s2.updated_at)) / 2.0 AS between_steps,
      avg(r.finished_at - s3.updated_at) AS last_step_to_finish,
      avg(r.finished_at - r.started_at) AS executing
    FROM ${schema}runs r
      JOIN ${schema}steps s1 ON s1.run_id = r.id AND s1.name = $1
      JOIN ${schema}steps s2 ON s2.run_id = r.id AND s2.name = $2
      JOIN ${schema}steps s3 ON s3.run_id = r.id AND s3.name = $3
    WHERE r.status = 'succeeded'`;
}

interface AnatomyRow {
  runs: number | string;
  queued: number | string | null;
  claim_to_first_step: number | string | null;
  step: number | string | null;
  between_steps: number | string | null;
  last_step_to_finish: number | string | null;
  executing: number | string | null;
}

function toAnatomy(row: AnatomyRow): RunAnatomy {
  return {
    runs: Number(row.runs),
    queuedMs: Number(row.queued),
    claimToFirstStepMs: Number(row.claim_to_first_step),
    stepMs: Number(row.step),
    betweenStepsMs: Number(row.between_steps),
    lastStepToFinishMs: Number(row.last_step_to_finish),
    executingMs: Number(row.executing),
  };
}

export function runAnatomySqlite(path: string): RunAnatomy {
  const db = new Database(path, { readonly: true });
  try {
    return toAnatomy(db.prepare(anatomySql("").replace(/\$\d/g, "?")).get(...e2eSteps) as AnatomyRow);
  } finally {
    db.close();
  }
}

export function runAnatomyPostgres(databaseUrl: string, schema: string): Promise<RunAnatomy> {
  return withPg(databaseUrl, async (client) => {
    const result = await client.query<AnatomyRow>(anatomySql(`"${schema}".`), [...e2eSteps]);
    return toAnatomy(result.rows[0] as AnatomyRow);
  });
}
