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
];

export async function readEngineCounts(services: TenonServices): Promise<EngineCounts> {
  const storage = services.engine.storage;
  const [events, runs, connections] = await Promise.all([
    storage.countEventsByStatus(),
    storage.countRunsByStatus(),
    services.connections.list(),
  ]);
  return { events, runs, connections };
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
  const { events, runs, connections } = engine;
  const received = Object.values(events).reduce((sum, n) => sum + (n ?? 0), 0);
  const elapsed = `${Math.round(header.elapsedMs / 1000)} s`;
  const block = [
    `  ${header.title} · running ${elapsed} · Ctrl-C to stop`,
    ...header.extra.map((line) => `  ${line}`),
    `  events       ${[`received ${received}`, counts(events, Object.keys(events))].filter(Boolean).join(" · ")}`,
    `  runs         ${counts(runs, activeStatuses)}`,
    `               ${counts(runs, terminalStatuses)}`,
    `  connections  ${connections.length > 0 ? connections.map(describeConnection).join(" · ") : "none in the config"}`,
    `  sandbox      ${sandboxCounts(sandbox)}`,
  ];
  const troubled = connections.filter((c) => c.status !== "active" || c.circuit.status !== "closed");
  const line = [
    `[${elapsed}] events ${received}`,
    `runs ${counts(runs, runStatuses)}`,
    ...(troubled.length > 0 ? [troubled.map(describeConnection).join(", ")] : []),
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
