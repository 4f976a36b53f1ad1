import { expect } from "vitest";
import type { RunStatus, Storage } from "../../src/storage/contract.ts";

export const lease = "ended-runs-lease";
const minute = 60_000;

/**
 * Stores `count` runs of `integrationId` that ended with `status` at `at` (through the real transitions); a failed
 * or dead one's last error is `error`.
 */
export async function endRuns(
  storage: Storage,
  integrationId: string,
  status: RunStatus,
  count: number,
  at: number,
  error = 'step "invoice": 500 from accounting',
) {
  const ids = Array.from({ length: count }, (_, i) => `${integrationId}-${status}-${at}-${i}`);
  await storage.acceptEvents(
    ids.map((id) => ({
      id: `event-${id}`,
      source: "shop",
      type: "order.paid",
      dedupKey: null,
      payloadJson: "{}",
      receivedAt: at - 1000,
      runs: [{ id, integrationId, concurrencyKey: null, concurrencyLimit: null }],
    })),
  );
  const claimed = await storage.claimDueRuns({
    leaseToken: lease,
    limit: count,
    now: at - 500,
    leaseUntil: at + minute,
  });
  expect(claimed).toHaveLength(count);
  const transitions = ids.map((runId) =>
    status === "succeeded"
      ? { kind: "completeRun" as const, runId, leaseToken: lease, outputJson: null, now: at }
      : {
          kind: "finishRunWithError" as const,
          runId,
          leaseToken: lease,
          status: status as "failed" | "dead",
          error,
          stepFailure: { name: "invoice", error },
          attempt: 5,
          attemptStartedAt: at - 100,
          now: at,
        },
  );
  expect(await storage.applyTransitions(transitions)).toEqual(ids.map(() => true));
}
