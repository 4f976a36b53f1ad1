import type { TenonConfig } from "../config/define-config.ts";
import { defineReconciliation } from "../sdk/define-reconciliation.ts";

/** How often the demo runs a reconciliation that has no schedule of its own: each minute. */
export const demoReconcileSchedule = "* * * * *";

/**
 * The config with every reconciliation that runs on demand only scheduled on `cron`: the demo's traffic drifts
 * the systems apart now and then (out of band), and the reconciliation finds and repairs it while you watch.
 * A reconciliation with a schedule keeps it.
 */
export function scheduleReconciliations(config: TenonConfig, cron: string): TenonConfig {
  if (!config.reconciliations) return config;
  return {
    ...config,
    reconciliations: config.reconciliations.map((reconciliation) => {
      if (reconciliation.schedule !== undefined) return reconciliation;
      // `mode` is what defineReconciliation derived from `repair`: the definition is the rest.
      const { mode: _mode, ...definition } = reconciliation;
      return defineReconciliation({ ...definition, schedule: cron });
    }),
  };
}
