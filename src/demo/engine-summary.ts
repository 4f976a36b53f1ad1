import type { TenonServices } from "../app/tenon-services.ts";
import type { ConnectionSummary } from "../connections/connections.ts";
import type { Sandbox } from "../sandbox/create-sandbox.ts";
import { type EventStatus, type RunStatus, terminalStatuses } from "../storage/contract.ts";
import { runStatuses } from "../storage/run-statuses.ts";
import type { SummarySnapshot } from "./live-summary.ts";

/** What the engine holds, as the summary counts it: plain data, so `tenon dev`'s engine process can send it. */
export interface EngineCounts {
  events: Partial<Record<EventStatus, number>>;
  runs: Partial<Record<RunStatus, number>>;
  connections: ConnectionSummary[];
  /** The summaries of the alerts firing now, and how many have been resolved. */
  alerts: { firing: string[]; resolved: number };
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
  const [events, runs, connections, firing, resolved] = await Promise.all([
    storage.countEventsByStatus(),
    storage.countRunsByStatus(),
    services.connections.list(),
    storage.alerts.listAlerts({ status: "firing" }),
    storage.alerts.listAlerts({ status: "resolved" }),
  ]);
  return {
    events,
    runs,
    connections,
    alerts: { firing: firing.map((alert) => alert.summary), resolved: resolved.length },
  };
}

/**
 * What the engine did, on one screen: events received, runs by status, each connection's state and
 * the records the sandbox systems now hold. `extra` lines (traffic, faults) go under the header.
 */
export function engineSummary(
  engine: EngineCounts,
  sandbox: Sandbox,
  header: { title: string; elapsedMs: number; extra: string[] },
): SummarySnapshot {
  const { events, runs, connections, alerts } = engine;
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
    `  sandbox      ${sandboxCounts(sandbox)}`,
  ];
  const troubled = connections.filter((c) => c.status !== "active" || c.circuit.status !== "closed");
  const line = [
    `[${elapsed}] events ${received}`,
    `runs ${counts(runs, runStatuses)}`,
    ...(troubled.length > 0 ? [troubled.map(describeConnection).join(", ")] : []),
    ...(alerts.firing.length > 0 ? [`alerts firing ${alerts.firing.length}`] : []),
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
