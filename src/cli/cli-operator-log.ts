import { userInfo } from "node:os";
import type { Storage } from "../storage/contract.ts";
import { replayActor } from "../storage/operator-store.ts";

/**
 * Who runs this CLI, for the operator log and a run's history: the OS user. Whoever can run `tenon` against
 * the database can do anything with it, so the CLI has no role; the log still says who acted, and how.
 */
export function cliUser(): string {
  try {
    return userInfo().username;
  } catch {
    // A container user without a passwd entry has no name.
    return process.env.USER ?? process.env.LOGNAME ?? `uid ${process.getuid?.() ?? "unknown"}`;
  }
}

/** `cli:<OS user>`, as a run's history records who replayed it. */
export function cliReplayActor(): string {
  return replayActor("cli", cliUser());
}

/**
 * Writes one CLI action to the operator log. The action itself already happened, so a failure to log it is a
 * warning on stderr, not a failed command.
 */
export async function recordCliAction(
  storage: Storage,
  entry: { action: string; target?: string | null; detail?: string | null },
): Promise<void> {
  try {
    await storage.operatorAccess.recordOperatorAction({
      at: Date.now(),
      actor: cliUser(),
      role: null,
      via: "cli",
      action: entry.action,
      target: entry.target ?? null,
      status: null,
      ip: null,
      detail: entry.detail ?? null,
    });
  } catch (error) {
    console.error(
      `tenon: warning: the operator log could not record this ${entry.action}: ${(error as Error).message}`,
    );
  }
}
