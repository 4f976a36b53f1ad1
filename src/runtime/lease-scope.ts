import { AsyncLocalStorage } from "node:async_hooks";
import type { LeaseFence } from "./lease-fence.ts";

/**
 * The lease that work outside a run's steps acts under (a poller fetching a page of its source), carried
 * across awaits like the step scope: the outbound client sends nothing once it has lapsed and aborts what
 * is still in flight, without the author passing it along.
 */
const leases = new AsyncLocalStorage<LeaseFence>();

export function currentLease(): LeaseFence | undefined {
  return leases.getStore();
}

export function actUnderLease<T>(fence: LeaseFence, fn: () => T): T {
  return leases.run(fence, fn);
}
