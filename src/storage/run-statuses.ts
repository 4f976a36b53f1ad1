import type { RunStatus } from "./contract.ts";

/** A record, not an array, so the compiler points here when the storage contract gains a status. */
const statuses: Record<RunStatus, true> = {
  queued: true,
  blocked: true,
  running: true,
  retrying: true,
  sleeping: true,
  waiting: true,
  paused: true,
  succeeded: true,
  failed: true,
  dead: true,
};

/** Every run status, in the order a run moves through them. */
export const runStatuses = Object.keys(statuses) as RunStatus[];

export function isRunStatus(value: string): value is RunStatus {
  return Object.hasOwn(statuses, value);
}
