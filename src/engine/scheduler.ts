import { Cron } from "croner";
import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.ts";
import { newId } from "../runtime/ids.ts";
import type { Integration } from "../sdk/define-integration.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import type { NewEvent, Storage } from "../storage/contract.ts";

interface Schedule {
  integration: Integration;
  cron: Cron;
}

/**
 * Fires cron-triggered integrations. Every worker runs a scheduler; each tick
 * is claimed with a compare-and-set on the schedule's last tick, in the same
 * transaction as the tick's event and run, so it fires once across all workers.
 *
 * After downtime, one missed tick is caught up: the most recent one, not all of
 * them (a sync that missed ten ticks needs one run, not ten).
 */
export class Scheduler {
  readonly #schedules: Schedule[];
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #startedAt: number;
  readonly #onTickFired: () => void;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    integrations: Integration[],
    /** `onTickFired`: a tick's event and run were committed here (metrics count it). */
    deps: { storage: Storage; clock: Clock; logger: Logger; onTickFired?: () => void },
  ) {
    this.#storage = deps.storage;
    this.#onTickFired = deps.onTickFired ?? (() => {});
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#startedAt = deps.clock.now();
    this.#schedules = integrations.flatMap((integration) => {
      if (!("cron" in integration.trigger)) return [];
      const { cron, timezone } = integration.trigger;
      try {
        return [{ integration, cron: new Cron(cron, { paused: true, ...(timezone ? { timezone } : {}) }) }];
      } catch (error) {
        throw new ConfigurationError(
          `integration "${integration.id}": cron "${cron}" is invalid: ${(error as Error).message}`,
        );
      }
    });
  }

  start(onFired: () => void): void {
    if (this.#schedules.length === 0) return;
    const loop = async () => {
      if (this.#stopped) return;
      try {
        if ((await this.fireDue()) > 0) onFired();
      } catch (error) {
        this.#logger.error({ err: (error as Error).message }, "firing schedules failed; trying again at the next tick");
      }
      if (!this.#stopped) this.#timer = setTimeout(loop, this.#msUntilNextTick());
    };
    void loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #msUntilNextTick(): number {
    const now = this.#clock.now();
    const next = Math.min(
      ...this.#schedules.map((s) => s.cron.nextRun(new Date(now))?.getTime() ?? Number.POSITIVE_INFINITY),
    );
    // Re-check at least every minute, so a clock jump or a missed timer never loses more than that.
    return Math.max(1, Math.min(next - now + 5, 60_000));
  }

  /** Fires each schedule's latest tick that is due and not yet fired; returns how many fired here. */
  async fireDue(): Promise<number> {
    let fired = 0;
    const now = this.#clock.now();
    for (const { integration, cron } of this.#schedules) {
      const lastTick = await this.#storage.getScheduleLastTick(integration.id);
      // A schedule never fired before starts at this scheduler's start: no catch-up of ticks from before it existed.
      const since = lastTick ?? this.#startedAt - 1;
      const latest = latestTickBetween(cron, since, now);
      if (latest === undefined) continue;
      if (await this.#storage.fireScheduleTick(integration.id, latest, tickEvent(integration, latest))) {
        fired++;
        this.#onTickFired();
        this.#logger.info({ integrationId: integration.id, tick: new Date(latest).toISOString() }, "schedule fired");
      }
    }
    return fired;
  }
}

/** The last tick t with since < t ≤ now, if any. (croner's nextRun is strictly after its argument.) */
export function latestTickBetween(cron: Cron, since: number, now: number): number | undefined {
  const first = cron.nextRun(new Date(since))?.getTime();
  if (first === undefined || first > now) return undefined;
  let latest: number = first;
  for (let steps = 0; steps < 10_000; steps++) {
    const next: number | undefined = cron.nextRun(new Date(latest))?.getTime();
    if (next === undefined || next > now) return latest;
    latest = next;
  }
  // More than 10,000 ticks missed means a tiny period: the latest one is within the last hour.
  return latestTickBetween(cron, now - 3_600_000, now);
}

function tickEvent(integration: Integration, tickAt: number): NewEvent {
  const scheduledAt = new Date(tickAt).toISOString();
  return {
    id: newId(),
    source: "schedule",
    type: integration.id,
    dedupKey: `${integration.id}@${scheduledAt}`,
    payloadJson: JSON.stringify({ scheduledAt }),
    receivedAt: tickAt,
    runs: [{ id: newId(), integrationId: integration.id, concurrencyKey: null, concurrencyLimit: null }],
  };
}
