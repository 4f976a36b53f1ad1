import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { expect } from "vitest";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import type { createStore } from "../../src/sandbox/systems/store.ts";
import type { RunStatus, Storage } from "../../src/storage/contract.ts";
import { spawnNode, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { waitFor } from "../support/wait.ts";
import { expectExactlyOnceEffects, type PlacedOrder, testPace } from "./order-to-cash-scenario.ts";

const tenonBin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));
const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const apiSystems = ["crm", "accounting", "inventory", "email"];

export interface ChaosOptions {
  /** `tenon start` processes on the database (one on SQLite: one process owns the file). */
  workers: number;
  orders: number;
  leaseMs: number;
  /** Environment that selects the database (TENON_SQLITE_PATH or TENON_DATABASE_URL). */
  databaseEnv: Record<string, string>;
  /** Reads the database the workers share (opened once the first worker has migrated it). */
  openStorage: () => Storage;
  /** A random worker is killed with SIGKILL this long (ms, uniform) after the previous kill, and restarted at once. */
  killEveryMs: [number, number];
  /** A random worker is suspended (SIGSTOP) for longer than its lease this often (ms, uniform), then resumed. */
  stallEveryMs: [number, number];
}

export interface ChaosReport {
  orders: number;
  kills: number;
  stalls: number;
  /** Log lines of workers that stopped acting for a run because their lease may have lapsed. */
  fencedExecutions: number;
  /** Webhooks the store gave up on while Tenon was down (never acknowledged), redelivered afterwards. */
  webhooksRedelivered: number;
  runs: Partial<Record<RunStatus, number>>;
  injectedFaults: Record<string, Readonly<Record<string, number>>>;
  elapsedMs: number;
}

interface Slot {
  port: number;
  process: WorkerProcess;
  output: string[];
  stopped: boolean;
}

/**
 * Chaos as an operator would see it: `tenon start` processes with the example config against the
 * sandbox, store orders arriving at 5 a second, every downstream API answering 25% 5xx (half of them
 * after processing) and 10% 429, while workers are killed with SIGKILL and suspended with SIGSTOP
 * for longer than their lease. The store's webhooks reach a live worker through a small balancer, as
 * behind a load balancer. Afterwards: every run succeeded and every order's effects happened exactly
 * once, counted in the sandbox systems' own records.
 */
export async function runChaosScenario(options: ChaosOptions): Promise<ChaosReport> {
  const startedAt = Date.now();
  const sandbox = createSandbox({ systems: builtInSystems, webhookTimeScale: 60 });
  await sandbox.listen({ host: "127.0.0.1", port: 0 });
  const env: Record<string, string> = {
    ...sandboxEnvironment(sandbox, Object.keys(builtInSystems)),
    ...options.databaseEnv,
    TENON_MASTER_KEY: randomBytes(32).toString("base64"),
    TENON_LEASE_MS: String(options.leaseMs),
    TENON_LOG_LEVEL: "warn",
    // The sandbox companies do not throttle; the providers' documented paces would stretch the test to many minutes.
    ...Object.fromEntries(Object.entries(testPace).map(([name, limit]) => [`${name.toUpperCase()}_RATE_LIMIT`, limit])),
  };
  const slots: Slot[] = [];
  const balancer = await startBalancer(slots);
  let storage: Storage | undefined;
  let chaos: Promise<{ kills: number; stalls: number }> | undefined;
  const chaosRunning = { value: true };
  try {
    for (let i = 0; i < options.workers; i++) {
      slots.push(launch(env, { port: await freePort(), output: [], stopped: false }));
    }
    await Promise.all(slots.map((slot) => waitForReady(slot)));
    storage = options.openStorage();
    sandbox.webhooks("store").url = `${balancer.url}/hooks/store`;
    for (const system of apiSystems) {
      sandbox.setFaults(system, { errorRate: 0.25, errorTiming: "either", rateLimitRate: 0.1, retryAfterSeconds: 1 });
    }

    chaos = actOutChaos(slots, env, options, chaosRunning);
    const placed = await placeOrders(sandbox, options.orders);
    await waitFor(
      "the orders to be worked through during the chaos",
      async () => (await countOrderRuns(storage as Storage)).succeeded >= options.orders * 0.8,
      10 * 60_000,
      500,
    ).catch(() => undefined);
    chaosRunning.value = false;
    const { kills, stalls } = await chaos;

    // What the store gave up on while Tenon was down was never acknowledged: an operator redelivers it.
    const webhooksRedelivered = await redeliverFailedWebhooks(sandbox);
    const runs = await waitFor(
      `all ${options.orders} order runs to finish`,
      async () => {
        const counts = await countOrderRuns(storage as Storage);
        return counts.finished >= options.orders ? counts.byStatus : null;
      },
      5 * 60_000,
      500,
    );
    const unsuccessful: string[] = [];
    for (const run of [
      ...(await (storage as Storage).listRuns({ status: "dead", limit: 20 })),
      ...(await (storage as Storage).listRuns({ status: "failed", limit: 20 })),
    ]) {
      // What a run that did not succeed went through, to tell an unlucky streak of injected faults from a cause.
      const history = (await (storage as Storage).listRunHistory(run.id)).map(
        (h) =>
          `    ${new Date(h.at).toISOString()} ${h.kind}${h.stepName ? ` ${h.stepName}` : ""}${h.attempt ? ` #${h.attempt}` : ""}: ${(h.detail ?? "").slice(0, 160)}`,
      );
      unsuccessful.push(`${run.id} ${run.status}: ${run.lastError}`, ...history);
    }
    expect(runs, unsuccessful.join("\n")).toEqual({ succeeded: options.orders });
    expectExactlyOnceEffects(sandbox, placed);
    return {
      orders: options.orders,
      kills,
      stalls,
      fencedExecutions: slots.flatMap((s) => s.output).filter((line) => line.includes("fenced itself")).length,
      webhooksRedelivered,
      runs,
      injectedFaults: Object.fromEntries(apiSystems.map((system) => [system, { ...sandbox.injectedFaults(system) }])),
      elapsedMs: Date.now() - startedAt,
    };
  } finally {
    chaosRunning.value = false;
    await chaos?.catch(() => undefined);
    for (const slot of slots) {
      slot.process.child.kill("SIGCONT");
      await slot.process.terminate();
    }
    await storage?.close();
    await new Promise((resolve) => balancer.server.close(resolve));
    await sandbox.close();
  }
}

/** Starts (or restarts) the slot's `tenon start` process; its output adds to the slot's. */
function launch(env: Record<string, string>, slot: Omit<Slot, "process">): Slot {
  const process = spawnNode([tenonBin, "start", "--config", examplesConfig], {
    ...env,
    TENON_HTTP_PORT: String(slot.port),
  });
  process.onLine((line) => slot.output.push(line));
  return Object.assign(slot, { process });
}

/** `tenon start` logs "ready" at info; at warn it prints nothing then, so readiness is its health answer. */
async function waitForReady(slot: Slot): Promise<void> {
  await waitFor(
    `worker on port ${slot.port} to be ready`,
    async () => {
      const exited = slot.process.exitInfo();
      if (exited) throw new Error(`a worker exited: ${exited}`);
      const { statusCode, body } = await request(`http://127.0.0.1:${slot.port}/health`);
      await body.dump();
      return statusCode === 200;
    },
    60_000,
    25,
  );
}

/** Kills (SIGKILL) and stalls (SIGSTOP past the lease) random workers until told to stop. */
async function actOutChaos(
  slots: Slot[],
  env: Record<string, string>,
  options: ChaosOptions,
  running: { value: boolean },
): Promise<{ kills: number; stalls: number }> {
  let kills = 0;
  let stalls = 0;
  const between = ([min, max]: [number, number]) => min + Math.random() * (max - min);
  let nextKill = Date.now() + between(options.killEveryMs);
  let nextStall = Date.now() + between(options.stallEveryMs);
  const stalling: Promise<void>[] = [];
  while (running.value) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const live = slots.filter((slot) => !slot.stopped);
    if (Date.now() >= nextKill && live.length > 0) {
      const slot = live[Math.floor(Math.random() * live.length)] as Slot;
      await slot.process.kill9();
      launch(env, slot);
      kills += 1;
      // Killed again only once it has come back and done some work, so the run makes progress.
      await waitForReady(slot);
      nextKill = Date.now() + between(options.killEveryMs);
    }
    if (Date.now() >= nextStall && live.length > 0) {
      const slot = live[Math.floor(Math.random() * live.length)] as Slot;
      const stalledFor = options.leaseMs + 500 + Math.random() * 1500;
      slot.stopped = true;
      slot.process.child.kill("SIGSTOP");
      stalls += 1;
      stalling.push(
        new Promise<void>((resolve) =>
          setTimeout(() => {
            slot.process.child.kill("SIGCONT");
            slot.stopped = false;
            resolve();
          }, stalledFor),
        ),
      );
      nextStall = Date.now() + between(options.stallEveryMs);
    }
  }
  await Promise.all(stalling);
  return { kills, stalls };
}

/** A load balancer's worth: each webhook goes to a random worker that is running, 503 when none answers. */
async function startBalancer(slots: Slot[]): Promise<{ server: Server; url: string }> {
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const live = slots.filter((slot) => !slot.stopped);
      const slot = live[Math.floor(Math.random() * live.length)];
      if (!slot) {
        outgoing.writeHead(503).end();
        return;
      }
      const headers = { ...incoming.headers };
      delete headers.host;
      delete headers.connection;
      request(`http://127.0.0.1:${slot.port}${incoming.url}`, {
        method: "POST",
        headers,
        body: Buffer.concat(chunks),
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      })
        .then(async (answer) => {
          outgoing.writeHead(answer.statusCode, { "content-type": "application/json" }).end(await answer.body.text());
        })
        .catch(() => outgoing.writeHead(503).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Customers order at about 5 a second. */
async function placeOrders(sandbox: Sandbox, count: number): Promise<PlacedOrder[]> {
  const store = sandbox.system<ReturnType<typeof createStore>>("store");
  const placed: PlacedOrder[] = [];
  for (let i = 0; i < count; i += 1) {
    placed.push(store.placeOrder());
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return placed;
}

async function redeliverFailedWebhooks(sandbox: Sandbox): Promise<number> {
  const store = sandbox.webhooks("store");
  const failed = store.state().deliveries.failed;
  for (const delivery of failed) store.redeliver(delivery.id);
  return failed.length;
}

async function countOrderRuns(storage: Storage) {
  const statuses: RunStatus[] = ["queued", "blocked", "running", "retrying", "sleeping", "waiting", "paused"];
  const finishedStatuses: RunStatus[] = ["succeeded", "failed", "dead"];
  const byStatus: Partial<Record<RunStatus, number>> = {};
  for (const status of [...statuses, ...finishedStatuses]) {
    const runs = await storage.listRuns({ integrationId: "order-to-cash", status, limit: 100_000 });
    if (runs.length > 0) byStatus[status] = runs.length;
  }
  const finished = finishedStatuses.reduce((sum, status) => sum + (byStatus[status] ?? 0), 0);
  return { byStatus, finished, succeeded: byStatus.succeeded ?? 0 };
}
