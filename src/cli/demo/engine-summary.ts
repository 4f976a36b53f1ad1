import type { ConnectionSummary } from "../../connections/connections.ts";
import type { Sandbox } from "../../sandbox/create-sandbox.ts";
import { type RunStatus, terminalStatuses } from "../../storage/contract.ts";
import type { DevEnvironment } from "../dev/dev-environment.ts";
import { runStatuses } from "../run-statuses.ts";
import type { SummarySnapshot } from "./live-summary.ts";

const activeStatuses = runStatuses.filter((status) => !terminalStatuses.includes(status));

/** The records worth counting in the sandbox systems' states: [system, field of its state, label]. */
const sandboxRecords: [string, string, string][] = [
  ["store", "orders", "orders"],
  ["payments", "paymentIntents", "card payments"],
  ["crm", "contacts", "contacts"],
  ["crm", "notes", "notes"],
  ["accounting", "invoices", "invoices"],
  ["accounting", "payments", "invoice payments"],
  ["inventory", "adjustments", "stock moves"],
  ["email", "messages", "emails"],
  ["sms", "messages", "texts"],
  ["scheduling", "appointments", "appointments"],
];

/**
 * What the engine did, on one screen: events received, runs by status, each connection's state and
 * the records the sandbox systems now hold. `extra` lines (traffic, faults) go under the header.
 */
export async function engineSummary(
  dev: DevEnvironment,
  header: { title: string; elapsedMs: number; extra: string[] },
): Promise<SummarySnapshot> {
  const { services, sandbox } = dev;
  const storage = services.engine.storage;
  const [events, runs, connections] = await Promise.all([
    storage.countEventsByStatus(),
    storage.countRunsByStatus(),
    services.connections.list(),
  ]);
  const received = Object.values(events).reduce((sum, n) => sum + (n ?? 0), 0);
  const elapsed = `${Math.round(header.elapsedMs / 1000)} s`;
  const block = [
    `  ${header.title} · running ${elapsed} · Ctrl-C to stop`,
    ...header.extra.map((line) => `  ${line}`),
    `  events       received ${received} · ${counts(events, Object.keys(events))}`,
    `  runs         ${counts(runs, activeStatuses)}`,
    `               ${counts(runs, terminalStatuses)}`,
    `  connections  ${connections.map(describeConnection).join(" · ")}`,
    `  sandbox      ${sandboxCounts(sandbox)}`,
  ];
  const line = `[${elapsed}] events ${received} | runs ${counts(runs, runStatuses)} | ${connections
    .filter((c) => c.status !== "active" || c.circuit.status !== "closed")
    .map(describeConnection)
    .join(", ")}`;
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
  const states = new Map<string, Record<string, unknown>>();
  const parts: string[] = [];
  for (const [system, field, label] of sandboxRecords) {
    let state = states.get(system);
    if (!state) {
      state = sandbox.system(system).state() as Record<string, unknown>;
      states.set(system, state);
    }
    const value = state[field];
    const size = Array.isArray(value)
      ? value.length
      : value && typeof value === "object"
        ? Object.keys(value).length
        : 0;
    parts.push(`${label} ${size}`);
  }
  return parts.join(" · ");
}
