import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Cron } from "croner";
import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.ts";
import type { AlertRecord } from "../storage/alert-store.ts";
import type { Storage } from "../storage/contract.ts";
import type { ResolvedRules } from "./alert-config.ts";
import { type Condition, evaluateRules, linkFor } from "./alert-rules.ts";
import { type AlertNotification, toNotification } from "./notification.ts";

export interface AlertEvaluatorOptions {
  storage: Storage;
  clock: Clock;
  logger: Logger;
  rules: ResolvedRules;
  evaluateEveryMs: number;
  renotifyAfterMs: number;
  recoverAfterMs: number;
  /** Absolute links in notifications start with this (TENON_PUBLIC_URL); relative without it. */
  publicUrl: string | undefined;
  connectionIds: readonly string[];
  /** Those whose credentials Tenon renews itself (OAuth 2): no alert for their access token's expiry. */
  renewedConnectionIds?: ReadonlySet<string>;
  pollIds: readonly string[];
  schedules: readonly { integrationId: string; cron: Cron }[];
  /** Channel name → the integration that delivers its notifications. */
  channelIntegrations: ReadonlyMap<string, string>;
  /**
   * Stores a channel's notification durably, as an event that starts its delivery run. The same notification
   * sent twice (a crash between sending and saving the alert) is a duplicate and starts nothing.
   */
  deliver: (channel: string, notification: AlertNotification) => Promise<void>;
  /**
   * Sees each notification once (not once per channel), before the alert's state records it: operational
   * webhooks tell their subscribers. Like `deliver`, it must treat a notification sent again as a duplicate.
   */
  onNotification?: (notification: AlertNotification) => Promise<void>;
  /** The configured operational webhook subscribers (the webhookDisabled rule watches them). */
  webhookSubscribers?: readonly string[];
}

/** An alert's identity: the same condition on the same subject is the same alert, in every worker. */
export function alertFingerprint(rule: string, subject: string): string {
  return createHash("sha256").update(`${rule}\u0000${subject}`).digest("hex").slice(0, 16);
}

/**
 * Evaluates the rules periodically, in one worker at a time (a lease row: the others skip while it is held),
 * and turns conditions into alert state and notifications:
 * - a condition that appears starts an episode: the alert fires and is told once;
 * - while it holds, the alert is told again every `renotifyAfterMs`, unless acknowledged or snoozed;
 * - once it has been clear for `recoverAfterMs`, the alert resolves and is told so, once.
 * Notifications are stored (as events) before the alert's state records them: a crash in between re-sends the
 * same notification, which is recognised as a duplicate, so nothing is told twice or lost.
 */
export class AlertEvaluator {
  readonly #options: AlertEvaluatorOptions;
  readonly #owner = `${hostname()} pid ${process.pid} ${randomUUID().slice(0, 8)}`;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: AlertEvaluatorOptions) {
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.#options.storage.alerts.releaseEvaluation(this.#owner).catch(() => {});
  }

  /**
   * One evaluation, if this worker holds (or takes) the lease; returns whether it evaluated. Tests call it
   * directly with an injected clock.
   */
  async evaluateOnce(): Promise<boolean> {
    const { storage, clock, evaluateEveryMs } = this.#options;
    const now = clock.now();
    if (!(await storage.alerts.claimEvaluation(this.#owner, now, now + 3 * evaluateEveryMs))) return false;
    const conditions = await evaluateRules({ ...this.#options, now });
    const seen = new Set<string>();
    for (const condition of conditions) {
      const fingerprint = alertFingerprint(condition.rule, condition.subject);
      seen.add(fingerprint);
      await this.#holds(fingerprint, condition, now);
    }
    for (const alert of await storage.alerts.listAlerts({ status: "firing", limit: 10_000 })) {
      if (!seen.has(alert.fingerprint)) await this.#clear(alert, now);
    }
    return true;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.evaluateOnce()
        .then(
          () => {},
          (error) => this.#options.logger.error({ err: (error as Error).message }, "evaluating the alert rules failed"),
        )
        .finally(() => this.#schedule(this.#options.evaluateEveryMs));
    }, delayMs);
    this.#timer.unref();
  }

  async #holds(fingerprint: string, condition: Condition, now: number): Promise<void> {
    const { storage, renotifyAfterMs } = this.#options;
    const existing = await storage.alerts.getAlert(fingerprint);
    const current = { severity: condition.severity, summary: condition.summary, labels: condition.labels };
    if (!existing || existing.status === "resolved") {
      const alert: AlertRecord = {
        fingerprint,
        rule: condition.rule,
        subject: condition.subject,
        ...current,
        status: "firing",
        episode: (existing?.episode ?? 0) + 1,
        count: condition.count,
        firstSeenAt: now,
        lastSeenAt: now,
        clearedSince: null,
        resolvedAt: null,
        notifications: 0,
        notifiedAt: null,
        ackedAt: null,
        ackedBy: null,
        snoozedUntil: null,
      };
      this.#options.logger.warn(
        { alert: fingerprint, rule: condition.rule, subject: condition.subject },
        condition.summary,
      );
      await this.#notify(alert, condition.link, now);
      await storage.alerts.saveAlert(alert, { newEpisode: true });
      return;
    }
    const alert: AlertRecord = { ...existing, ...current, count: condition.count, lastSeenAt: now, clearedSince: null };
    const silenced = alert.ackedAt !== null || (alert.snoozedUntil !== null && alert.snoozedUntil > now);
    const due = alert.notifiedAt === null || now - alert.notifiedAt >= renotifyAfterMs;
    if (!silenced && due) await this.#notify(alert, condition.link, now);
    await storage.alerts.saveAlert(alert, { newEpisode: false });
  }

  async #clear(firing: AlertRecord, now: number): Promise<void> {
    const alert: AlertRecord = { ...firing, clearedSince: firing.clearedSince ?? now };
    if (now - (alert.clearedSince as number) >= this.#options.recoverAfterMs) {
      alert.status = "resolved";
      alert.resolvedAt = now;
      this.#options.logger.info(
        { alert: alert.fingerprint, rule: alert.rule, subject: alert.subject },
        "alert resolved",
      );
      await this.#notify(alert, linkFor(alert.subject), now);
    }
    await this.#options.storage.alerts.saveAlert(alert, { newEpisode: false });
  }

  /** Sends the alert's next notification to every channel (an alert about a channel skips that one). */
  async #notify(alert: AlertRecord, link: string, now: number): Promise<void> {
    const number = alert.notifications + 1;
    const base = this.#options.publicUrl?.replace(/\/$/, "") ?? "";
    const notification = toNotification(alert, number, `${base}${link}`);
    for (const channel of this.#options.channelIntegrations.keys()) {
      if (alert.subject === `channel:${channel}`) continue;
      await this.#options.deliver(channel, notification);
    }
    await this.#options.onNotification?.(notification);
    alert.notifications = number;
    alert.notifiedAt = now;
  }
}
