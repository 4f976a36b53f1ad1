import { afterEach, describe, expect, it } from "vitest";
import { spawnFixture, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";

const total = 1000;
// Early: the client reads answers later than the server sends them, so hundreds are acknowledged by the time the kill lands.
const killAfterAcks = 20;

describe.each(backends)("kill -9 while 1,000 webhooks arrive, on $name", (backend) => {
  const t = useTestStorage(backend);
  const processes: WorkerProcess[] = [];
  afterEach(async () => {
    for (const p of processes.splice(0)) if (!p.exitInfo()) await p.kill9();
  });

  async function startServer(): Promise<string> {
    const server = spawnFixture("webhook-server-process.ts", t.db.env);
    processes.push(server);
    const line = await server.waitForLine("LISTENING ");
    return line.slice("LISTENING ".length);
  }

  it("every request answered 2xx has its event and run stored; after the client retries the rest, none is doubled", async () => {
    await t.storage.migrate();
    const requests = Array.from({ length: total }, (_, i) => stripeRequest(`evt_${i}`));
    const acked = new Map<string, string>(); // provider event id → Tenon event id, as the client saw it

    let url = await startServer();
    const server = processes[0] as WorkerProcess;
    let killed: Promise<void> | undefined;
    await Promise.all(
      requests.map(async (request, i) => {
        try {
          const response = await fetch(`${url}/hooks/stripe`, { method: "POST", ...request });
          if (response.status !== 200) return;
          acked.set(`evt_${i}`, ((await response.json()) as { id: string }).id);
          if (acked.size === killAfterAcks) killed = server.kill9();
        } catch {
          // The connection died with the server: not acknowledged, so the provider would retry it.
        }
      }),
    );
    await killed;
    expect(killed, "the server was killed in the middle of the burst").toBeDefined();
    expect(acked.size).toBeGreaterThanOrEqual(killAfterAcks);
    expect(acked.size).toBeLessThan(total);

    // Every acknowledged event is durable, with its run.
    for (const [providerId, eventId] of acked) {
      const event = await t.storage.getEvent(eventId);
      expect(event?.dedupKey, `acknowledged ${providerId} is stored`).toBe(providerId);
      expect(await t.storage.listRuns({ eventId }), `acknowledged ${providerId} has its run`).toHaveLength(1);
    }

    // The provider retries everything it has no 2xx for, and redelivers some acknowledged ones too.
    url = await startServer();
    for (const [i, request] of requests.entries()) {
      const providerId = `evt_${i}`;
      if (acked.has(providerId) && i % 10 !== 0) continue;
      const response = await fetch(`${url}/hooks/stripe`, { method: "POST", ...request });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { id: string; duplicate: boolean };
      if (acked.has(providerId)) expect(body).toEqual({ id: acked.get(providerId), duplicate: true });
    }

    const events = await t.storage.listEvents({ source: "stripe", limit: 10 * total });
    expect(events).toHaveLength(total);
    expect(new Set(events.map((e) => e.dedupKey)).size).toBe(total);
    const runs = await t.storage.listRuns({ limit: 10 * total });
    expect(runs).toHaveLength(total);
    expect(new Set(runs.map((r) => r.eventId)).size).toBe(total);
  });
});
