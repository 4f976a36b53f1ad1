import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { latestTickBetween } from "../../src/engine/scheduler.ts";

const at = (iso: string) => Date.parse(iso);

describe("which cron tick is due", () => {
  const everyMinute = new Cron("* * * * *", { paused: true });

  it("a tick that falls exactly on 'now' is due, and one already fired is not", () => {
    expect(latestTickBetween(everyMinute, at("2026-01-01T11:59:30Z"), at("2026-01-01T12:00:00Z"))).toBe(
      at("2026-01-01T12:00:00Z"),
    );
    expect(latestTickBetween(everyMinute, at("2026-01-01T12:00:00Z"), at("2026-01-01T12:00:00.005Z"))).toBeUndefined();
  });

  it("after downtime the latest missed tick is chosen, also for a tiny period and for a daily schedule", () => {
    expect(latestTickBetween(everyMinute, at("2026-01-01T12:00:00Z"), at("2026-01-01T12:10:30Z"))).toBe(
      at("2026-01-01T12:10:00Z"),
    );
    const everySecond = new Cron("* * * * * *", { paused: true });
    expect(latestTickBetween(everySecond, at("2026-01-01T00:00:00Z"), at("2026-01-02T12:00:00.500Z"))).toBe(
      at("2026-01-02T12:00:00Z"),
    );
    const daily = new Cron("0 3 * * *", { paused: true, timezone: "UTC" });
    expect(latestTickBetween(daily, at("2026-01-01T03:00:00Z"), at("2026-01-05T10:00:00Z"))).toBe(
      at("2026-01-05T03:00:00Z"),
    );
  });
});
