/**
 * BENCH_TRACE=1 for the servers under bench (bench/ingest-server.ts, bench/e2e-server.ts): every call of the storage
 * (its methods: accepts, claims, transitions, …, and those of its connection and tag stores, as `connections.…` and
 * `tags.…`) timed to settlement, and its synchronous part (better-sqlite3 runs the whole transaction before
 * returning) in wall and CPU time, with the longest; `items` sums the length of an array first argument, the batch
 * size of a group commit. The server prints the totals as one JSON line at exit, the bench a table.
 */
import { performance } from "node:perf_hooks";
import type { Storage } from "../src/index.ts";

export interface CallStats {
  calls: number;
  items: number;
  /** Summed call→settle time. */
  ms: number;
  maxMs: number;
  /** Summed time until the call returned its promise: the event loop was blocked (all of it for SQLite). */
  blockedMs: number;
  /** CPU (user + system) used while blocked; the rest of blockedMs was spent waiting or descheduled. */
  blockedCpuMs: number;
  /** The longest the event loop waited for one call to return. */
  maxBlockedMs: number;
}

/** The stores reached through the storage whose calls are traced too, under their name. */
const nestedStores = new Set(["connections", "tags"]);

export function traced<T extends object = Storage>(storage: T, stats: Map<string, CallStats>, prefix = ""): T {
  return new Proxy(storage, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== "string") return value;
      if (prefix === "" && nestedStores.has(property) && typeof value === "object" && value !== null) {
        return traced(value, stats, `${property}.`);
      }
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const cpuBefore = process.cpuUsage();
        const result: unknown = value.apply(target, args);
        const cpu = process.cpuUsage(cpuBefore);
        const name = `${prefix}${property}`;
        const entry = stats.get(name) ?? {
          calls: 0,
          items: 0,
          ms: 0,
          maxMs: 0,
          blockedMs: 0,
          blockedCpuMs: 0,
          maxBlockedMs: 0,
        };
        stats.set(name, entry);
        entry.calls++;
        const blocked = performance.now() - started;
        entry.blockedMs += blocked;
        entry.maxBlockedMs = Math.max(entry.maxBlockedMs, blocked);
        entry.blockedCpuMs += (cpu.user + cpu.system) / 1000;
        if (Array.isArray(args[0])) entry.items += args[0].length;
        const settled = () => {
          const ms = performance.now() - started;
          entry.ms += ms;
          entry.maxMs = Math.max(entry.maxMs, ms);
        };
        if (result instanceof Promise) return result.finally(settled);
        settled();
        return result;
      };
    },
  });
}

export function printTrace(title: string, trace: Record<string, CallStats>): void {
  console.log(`\n  ${title}: storage calls over the server's life`);
  console.log(
    "  (ms: call→settle; blocked: the event loop waited for the call to return, of which CPU: user+system time)",
  );
  const columns = ["calls", "items/call", "ms/call", "max ms", "blocked ms", "blocked CPU ms", "max blocked ms"];
  console.log(`  ${"method".padEnd(28)} ${columns.map((c) => c.padStart(10)).join(" ")}`);
  for (const [method, s] of Object.entries(trace).sort((a, b) => b[1].ms - a[1].ms)) {
    const cells = [
      String(s.calls),
      (s.items / s.calls).toFixed(1),
      (s.ms / s.calls).toFixed(2),
      s.maxMs.toFixed(1),
      s.blockedMs.toFixed(0),
      s.blockedCpuMs.toFixed(0),
      s.maxBlockedMs.toFixed(1),
    ];
    console.log(`  ${method.padEnd(28)} ${cells.map((c) => c.padStart(10)).join(" ")}`);
  }
}
