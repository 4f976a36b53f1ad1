import { afterEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { endRuns } from "../support/ended-runs.ts";
import { testEngine } from "../support/engine.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";

const token = "stats-api-token";

describe.each(backends)("GET /api/stats/throughput ($name)", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine | undefined;
  let http: RunningServer | undefined;

  afterEach(async () => {
    await http?.server.close();
    await engine?.stop({ deadlineMs: 1000 });
  });

  // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
  async function get(path: string): Promise<{ status: number; json: any }> {
    const response = await fetch(`${http?.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, json: await response.json() };
  }

  it("counts the runs created, failed and dead per minute of the last hour, and reuses an answer for 10 s", async () => {
    // 12:30:30 now: the window's buckets are whole minutes, 11:31 to 12:30 (the last one still filling).
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 30, 30));
    const at = (h: number, m: number, s: number) => Date.UTC(2026, 0, 5, h, m, s);
    await t.storage.migrate();
    // endRuns creates each run a second before it ends.
    await endRuns(t.storage, "billing", "succeeded", 3, at(11, 20, 30)); // before the window
    await endRuns(t.storage, "billing", "succeeded", 4, at(12, 0, 30));
    await endRuns(t.storage, "billing", "dead", 2, at(12, 0, 40));
    await endRuns(t.storage, "crm-sync", "failed", 1, at(12, 29, 10));
    await endRuns(t.storage, "crm-sync", "succeeded", 5, at(12, 30, 20));
    engine = testEngine({ storage: t.storage, integrations: [], worker: false, clock });
    await engine.start();
    http = await startTestServer(engine, { apiTokens: [token], sources: {}, now: () => clock.now() });

    const first = await get("/api/stats/throughput?window=1h");
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ window: "1h", bucketSeconds: 60, capped: false });
    const buckets = first.json.buckets as { at: string; created: number; failed: number; dead: number }[];
    expect(buckets).toHaveLength(60);
    expect(buckets[0]?.at).toBe("2026-01-05T11:31:00.000Z");
    expect(buckets[59]?.at).toBe("2026-01-05T12:30:00.000Z");
    const nonEmpty = buckets.filter((b) => b.created + b.failed + b.dead > 0);
    expect(nonEmpty).toEqual([
      { at: "2026-01-05T12:00:00.000Z", created: 6, failed: 0, dead: 2 },
      { at: "2026-01-05T12:29:00.000Z", created: 1, failed: 1, dead: 0 },
      { at: "2026-01-05T12:30:00.000Z", created: 5, failed: 0, dead: 0 },
    ]);

    // Within 10 s the same answer, though more runs ended; after, the new ones count.
    await endRuns(t.storage, "crm-sync", "dead", 1, at(12, 30, 25));
    clock.advance(5_000);
    expect((await get("/api/stats/throughput?window=1h")).json).toEqual(first.json);
    clock.advance(6_000);
    const later = (await get("/api/stats/throughput?window=1h")).json.buckets;
    expect(later[59]).toEqual({ at: "2026-01-05T12:30:00.000Z", created: 6, failed: 0, dead: 1 });

    const day = await get("/api/stats/throughput?window=24h");
    expect(day.json.bucketSeconds).toBe(900);
    expect(day.json.buckets).toHaveLength(96);
    const totals = (day.json.buckets as { created: number; failed: number; dead: number }[]).reduce(
      (sum, b) => ({ created: sum.created + b.created, failed: sum.failed + b.failed, dead: sum.dead + b.dead }),
      { created: 0, failed: 0, dead: 0 },
    );
    expect(totals).toEqual({ created: 16, failed: 1, dead: 3 });

    const bad = await get("/api/stats/throughput?window=7d");
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("invalid_window");
  });
});
