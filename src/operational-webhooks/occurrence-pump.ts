import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.ts";
import type {
  OccurrenceSource,
  OperationalWebhookStore,
  SourcePosition,
} from "../storage/operational-webhook-store.ts";
import { connectionOccurrence, driftOccurrence, type LinkTo, type Occurrence, runOccurrence } from "./occurrence.ts";
import { subscriberOfIntegration } from "./subscriber-delivery.ts";

export interface OccurrencePumpOptions {
  store: OperationalWebhookStore;
  clock: Clock;
  logger: Logger;
  /** The configured subscribers: their names and how long each may fail before it is disabled. */
  subscribers: readonly { name: string; disableAfterMs: number }[];
  /** How often the pump reads (one worker at a time). */
  everyMs: number;
  /**
   * How far behind `now` the pump reads: an item is stamped with its time before it commits (a run's end is
   * group-committed, drift incidents are written in batches), so only items older than this are sure to be all in.
   */
  settleMs: number;
  linkTo: LinkTo;
  /** Secret values hidden from errors and incident details before they go out. */
  secretValues: readonly string[];
  /** Starts the deliveries of these occurrences; returns the occurrences skipped per disabled subscriber. */
  fanOut: (occurrences: Occurrence[]) => Promise<Map<string, number>>;
  /** Items per read; a tick reads up to `maxPages` of them per source. */
  pageSize?: number;
  maxPages?: number;
}

/** Integrations whose runs are Tenon's own deliveries: their failures are not news for subscribers. */
const builtInPrefixes = ["tenon-webhooks.", "tenon-alerts."];

/**
 * Turns what happened into occurrences for the subscribers, off the engine's path: every `everyMs`, one worker
 * (a lease row in `maintenance_leases`) reads what is new in each source since its cursor (runs ended dead or
 * failed, connections' auth incidents, drift incidents), starts the deliveries, and only then moves the cursor.
 * A crash in between reads the same items again: their deliveries are duplicates by id, so nothing is lost and
 * nothing is sent twice. The pump also counts the deliveries that ended dead, per subscriber, and disables a
 * subscriber that has failed for longer than it may.
 */
export class OccurrencePump {
  readonly #options: Required<OccurrencePumpOptions>;
  readonly #owner = `${hostname()} pid ${process.pid} ${randomUUID().slice(0, 8)}`;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: OccurrencePumpOptions) {
    this.#options = { pageSize: 200, maxPages: 20, ...options };
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.#options.store.releasePump(this.#owner).catch(() => {});
  }

  /** One pass, if this worker holds (or takes) the lease; returns whether it pumped. Tests call it directly. */
  async pumpOnce(): Promise<boolean> {
    const { store, clock, everyMs, settleMs, linkTo, secretValues } = this.#options;
    const now = clock.now();
    if (!(await store.claimPump(this.#owner, now, now + 3 * everyMs))) return false;
    const upTo = now - settleMs;
    await this.#drain(
      "runs",
      upTo,
      now,
      (after, limit) => store.listEndedRuns(after, upTo, limit),
      async (runs) => {
        const occurrences: Occurrence[] = [];
        for (const run of runs) {
          const subscriber = subscriberOfIntegration(run.integrationId);
          if (subscriber !== undefined) {
            // Counted once however often it is read (the store compares it with the last one counted).
            const { createdAt, finishedAt } = run;
            await store.recordDeliveryFailure(subscriber, { createdAt, finishedAt, seq: run.position.seq });
          } else if (!builtInPrefixes.some((prefix) => run.integrationId.startsWith(prefix))) {
            occurrences.push(runOccurrence(run, linkTo, secretValues));
          }
        }
        return occurrences;
      },
    );
    await this.#drain(
      "connection_incidents",
      upTo,
      now,
      (after, limit) => store.listConnectionIncidents(after, upTo, ["auth_failed", "auth_restored"], limit),
      async (incidents) => incidents.map((incident) => connectionOccurrence(incident, linkTo, secretValues)),
    );
    await this.#drain(
      "drift_incidents",
      upTo,
      now,
      (after, limit) => store.listDriftIncidents(after, upTo, limit),
      async (incidents) => incidents.map((incident) => driftOccurrence(incident, linkTo)),
    );
    await this.#disableFailing(now);
    return true;
  }

  /** Reads a source page by page from its cursor, delivers, then moves the cursor past the page. */
  async #drain<Item extends { position: SourcePosition }>(
    source: OccurrenceSource,
    upTo: number,
    now: number,
    read: (after: SourcePosition, limit: number) => Promise<Item[]>,
    toOccurrences: (items: Item[]) => Promise<Occurrence[]>,
  ): Promise<void> {
    const { store, pageSize, maxPages, fanOut, logger } = this.#options;
    let cursor = await store.getCursor(source);
    if (!cursor) {
      // Subscribers hear about what happens from now on, not about everything that happened before they existed.
      await store.startCursor(source, { at: upTo, seq: 0, id: "" }, now);
      cursor = await store.getCursor(source);
      if (!cursor) return;
    }
    for (let page = 0; page < maxPages; page++) {
      const items = await read(cursor.position, pageSize);
      const last = items.at(-1);
      if (!last) return;
      const skipped = await fanOut(await toOccurrences(items));
      // Moved only now that the deliveries are stored; if another pump moved it meanwhile, it delivered the same.
      if (!(await store.moveCursor(source, cursor.version, last.position, now))) return;
      for (const [name, count] of skipped) {
        await store.addSkipped(name, count);
        logger.warn(
          { subscriber: name, skipped: count },
          `operational webhook ${name} is disabled: ${count} occurrence(s) not delivered`,
        );
      }
      cursor = { position: last.position, version: cursor.version + 1 };
      if (items.length < pageSize) return;
    }
  }

  /** A subscriber failing since longer than it may, with no success in between, gets no more deliveries. */
  async #disableFailing(now: number): Promise<void> {
    const { store, subscribers, logger } = this.#options;
    const health = new Map((await store.listSubscriberHealth()).map((h) => [h.name, h]));
    for (const { name, disableAfterMs } of subscribers) {
      const h = health.get(name);
      if (!h || h.disabledAt !== null || h.failingSince === null || now - h.failingSince < disableAfterMs) continue;
      const reason = `its deliveries have failed since ${new Date(h.failingSince).toISOString()} (${h.consecutiveFailures} given up after every retry) with no success in between`;
      if (await store.disableSubscriber(name, h.failingSince, now, reason)) {
        logger.error(
          { subscriber: name, failingSince: h.failingSince },
          `operational webhook ${name} disabled: ${reason}; enable it with \`tenon webhooks enable ${name}\` once its endpoint is fixed`,
        );
      }
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.pumpOnce()
        .then(
          () => {},
          (error) =>
            this.#options.logger.error({ err: (error as Error).message }, "pumping operational webhooks failed"),
        )
        .finally(() => this.#schedule(this.#options.everyMs));
    }, delayMs);
    this.#timer.unref();
  }
}
