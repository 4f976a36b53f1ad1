import type { TenonServices } from "../app/tenon-services.ts";
import type { ConnectionSummary } from "../connections/connections.ts";
import type { Sandbox } from "../sandbox/create-sandbox.ts";
import { type EventStatus, type RunStatus, type Storage, terminalStatuses } from "../storage/contract.ts";
import { runStatuses } from "../storage/run-statuses.ts";
import type { SummarySnapshot } from "./live-summary.ts";

/** What the engine holds, as the summary counts it: plain data, so `tenon dev`'s engine process can send it. */
export interface EngineCounts {
  events: Partial<Record<EventStatus, number>>;
  runs: Partial<Record<RunStatus, number>>;
  connections: ConnectionSummary[];
  /** The summaries of the alerts firing now, and how many have been resolved. */
  alerts: { firing: string[]; resolved: number };
  reconciliations: ReconciliationCounts[];
}

/** What a reconciliation found and repaired so far, and when it last ran. */
export interface ReconciliationCounts {
  id: string;
  schedule: string | null;
  /** Records found missing on either side, each once however often it was seen. */
  missingFound: number;
  /** Of those, the ones a run found fixed after a repair was requested. */
  missingRepaired: number;
  mismatchesFound: number;
  open: number;
  /** Its newest run: when it ended (or began, while it runs). */
  lastRun: { at: number; running: boolean; dryRun: boolean } | null;
}

const activeStatuses = runStatuses.filter((status) => !terminalStatuses.includes(status));

/** The records worth counting in the sandbox systems (`counts()`): [system, kind of record, label]. */
const sandboxRecords: [string, string, string][] = [
  ["store", "orders", "orders"],
  ["payments", "paymentIntents", "card payments"],
  ["crm", "contacts", "contacts"],
  ["crm", "notes", "notes"],
  ["accounting", "invoices", "invoices"],
  ["accounting", "paidInvoices", "paid"],
  ["inventory", "adjustments", "stock moves"],
  ["email", "messages", "emails"],
  ["sms", "messages", "texts"],
  ["scheduling", "appointments", "appointments"],
  ["chat", "messages", "chat alerts"],
  ["mail", "messages", "alert emails"],
];

/** Beyond this many firing alerts the summary names the first ones and counts the rest. */
const shownAlerts = 3;

export async function readEngineCounts(services: TenonServices): Promise<EngineCounts> {
  const storage = services.engine.storage;
  const [events, runs, connections, firing, resolved, reconciliations] = await Promise.all([
    storage.countEventsByStatus(),
    storage.countRunsByStatus(),
    services.connections.list(),
    storage.alerts.listAlerts({ status: "firing" }),
    storage.alerts.listAlerts({ status: "resolved" }),
    readReconciliationCounts(storage),
  ]);
  return {
    events,
    runs,
    connections,
    alerts: { firing: firing.map((alert) => alert.summary), resolved: resolved.length },
    reconciliations,
  };
}

async function readReconciliationCounts(storage: Storage): Promise<ReconciliationCounts[]> {
  const [summaries, tallies] = await Promise.all([
    storage.reconcile.listReconciliations(),
    storage.reconcile.tallyFindings(),
  ]);
  return Promise.all(
    summaries.map(async ({ id, schedule }) => {
      const mine = tallies.filter((tally) => tally.reconciliationId === id);
      const missing = mine.filter((tally) => tally.type !== "mismatch");
      const sum = (of: typeof mine, count: (tally: (typeof mine)[number]) => number) =>
        of.reduce((total, tally) => total + count(tally), 0);
      const newest = await storage.reconcile.getReport(id, "latest");
      return {
        id,
        schedule,
        missingFound: sum(missing, (tally) => tally.seen),
        missingRepaired: sum(missing, (tally) => tally.repaired),
        mismatchesFound: sum(
          mine.filter((tally) => tally.type === "mismatch"),
          (tally) => tally.seen,
        ),
        open: sum(mine, (tally) => tally.open),
        lastRun: newest
          ? {
              at: newest.finishedAt ?? newest.startedAt,
              running: newest.status === "running",
              dryRun: newest.dryRun,
            }
          : null,
      };
    }),
  );
}

/**
 * What the engine did, on one screen: events received, runs by status, each connection's state and
 * the records the sandbox systems now hold. `extra` lines (traffic, faults) go under the header.
 */
export function engineSummary(
  engine: EngineCounts,
  sandbox: Sandbox,
  /** `now`: what the reconciliations' last runs are aged against (default: this moment). */
  header: { title: string; elapsedMs: number; extra: string[]; now?: number },
): SummarySnapshot {
  const { events, runs, connections, alerts, reconciliations } = engine;
  const now = header.now ?? Date.now();
  const received = Object.values(events).reduce((sum, n) => sum + (n ?? 0), 0);
  const elapsed = `${Math.round(header.elapsedMs / 1000)} s`;
  const block = [
    `  ${header.title} · running ${elapsed} · Ctrl-C to stop`,
    ...header.extra.map((line) => `  ${line}`),
    `  events       ${[`received ${received}`, counts(events, Object.keys(events))].filter(Boolean).join(" · ")}`,
    `  runs         ${counts(runs, activeStatuses)}`,
    `               ${counts(runs, terminalStatuses)}`,
    `  connections  ${connections.length > 0 ? connections.map(describeConnection).join(" · ") : "none in the config"}`,
    `  alerts       ${describeAlerts(alerts)}`,
    `  reconcile    ${reconciliations.length > 0 ? reconciliations.map((r) => describeReconciliation(r, now)).join("; ") : "none in the config"}`,
    `  sandbox      ${sandboxCounts(sandbox)}`,
  ];
  const troubled = connections.filter((c) => c.status !== "active" || c.circuit.status !== "closed");
  const line = [
    `[${elapsed}] events ${received}`,
    `runs ${counts(runs, runStatuses)}`,
    ...(troubled.length > 0 ? [troubled.map(describeConnection).join(", ")] : []),
    ...(alerts.firing.length > 0 ? [`alerts firing ${alerts.firing.length}`] : []),
    ...reconciliations
      .filter((r) => r.missingFound + r.mismatchesFound > 0)
      .map((r) => `${r.id} found ${r.missingFound + r.mismatchesFound}, repaired ${r.missingRepaired}`),
  ].join(" | ");
  return { block, line };
}

function counts(values: Partial<Record<string, number>>, keys: readonly string[]): string {
  return keys.map((key) => `${key} ${values[key as RunStatus] ?? 0}`).join(" · ");
}

function describeConnection(summary: ConnectionSummary): string {
  if (summary.status === "auth_failed") return `${summary.id} AUTH FAILED`;
  if (summary.circuit.status !== "closed") return `${summary.id} circuit ${summary.circuit.status}`;
  return `${summary.id} ok`;
}

function describeAlerts(alerts: EngineCounts["alerts"]): string {
  const resolved = `resolved ${alerts.resolved}`;
  if (alerts.firing.length === 0) return `none firing · ${resolved}`;
  const named = alerts.firing.slice(0, shownAlerts);
  const more = alerts.firing.length - named.length;
  return [`FIRING ${alerts.firing.length}: ${named.join("; ")}${more > 0 ? `; and ${more} more` : ""}`, resolved].join(
    " · ",
  );
}

/** "store-vs-accounting: 2 missing found, 2 repaired, 0 open · last run 20 s ago". */
function describeReconciliation(counts: ReconciliationCounts, now: number): string {
  const { lastRun } = counts;
  if (lastRun === null) {
    return `${counts.id}: no run yet (${counts.schedule ? `runs on ${counts.schedule}` : "runs on demand"})`;
  }
  const found = [
    `${counts.missingFound} missing found, ${counts.missingRepaired} repaired`,
    ...(counts.mismatchesFound > 0
      ? [`${counts.mismatchesFound} mismatch${counts.mismatchesFound === 1 ? "" : "es"} found`]
      : []),
    `${counts.open} open`,
  ].join(", ");
  const kind = lastRun.dryRun ? "dry run" : "run";
  const last = lastRun.running
    ? `${kind} under way for ${age(now - lastRun.at)}`
    : `last ${kind} ${age(now - lastRun.at)} ago`;
  return `${counts.id}: ${found} · ${last}`;
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

function sandboxCounts(sandbox: Sandbox): string {
  const counts = new Map<string, Record<string, number>>();
  const parts: string[] = [];
  for (const [system, kind, label] of sandboxRecords) {
    let held = counts.get(system);
    if (!held) {
      held = sandbox.system(system).counts();
      counts.set(system, held);
    }
    parts.push(`${label} ${held[kind] ?? 0}`);
  }
  return parts.join(" · ");
}
