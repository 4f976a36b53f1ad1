import type { RunHistoryEntry } from "./contract.ts";

/** A run_history row to write: the run, its kind and time, and whichever details apply. */
export interface HistoryInput {
  runId: string;
  kind: RunHistoryEntry["kind"];
  at: number;
  stepName?: string | null;
  attempt?: number | null;
  connectionId?: string | null;
  startedAt?: number | null;
  until?: number | null;
  detail?: string | null;
  /** Who asked for a replay. */
  actor?: string | null;
}

/** The columns a history row leaves empty unless given. */
export const noHistoryFields = {
  stepName: null,
  attempt: null,
  connectionId: null,
  startedAt: null,
  until: null,
  detail: null,
  actor: null,
} as const;
