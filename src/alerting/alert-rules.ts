import type { Cron } from "croner";
import { latestTickBetween } from "../engine/scheduler.ts";
import type { Storage } from "../storage/contract.ts";
import type { ResolvedRules } from "./alert-config.ts";

/** A rule's condition that holds right now, about one subject: what an alert is made of. */
export interface Condition {
  rule: string;
  /** What it is about, as `kind:name`: `integration:billing`, `connection:crm`, `source:shop`, `channel:ops`. */
  subject: string;
  severity: "critical" | "warning" | "info";
  /** One line a person can act on. */
  summary: string;
  labels: Record<string, string>;
  /** How many things it counts (dead runs in the window, waiting runs…). */
  count: number;
  /** Where to look, as a path under the public URL. */
  link: string;
}

export interface RuleInputs {
  storage: Storage;
  rules: ResolvedRules;
  now: number;
  /** The connections the config declares (their circuits are read). */
  connectionIds: readonly string[];
  /**
   * The connections whose stored credentials Tenon renews itself (OAuth 2): their access token's expiry is
   * routine, not a person's business (a renewal that fails is an auth_failed alert). Default none.
   */
  renewedConnectionIds?: ReadonlySet<string>;
  /** The poll sources the config declares. */
  pollIds: readonly string[];
  /** The scheduled integrations, with their cron. */
  schedules: readonly { integrationId: string; cron: Cron }[];
  /** The integration that delivers each channel's alerts, by channel name. */
  channelIntegrations: ReadonlyMap<string, string>;
  /** The configured operational webhook subscribers (a disabled one raises an alert). */
  webhookSubscribers?: readonly string[];
}

/** Every rule's conditions that hold at `now`. Each rule reads storage through one or a few indexed queries. */
export async function evaluateRules(inputs: RuleInputs): Promise<Condition[]> {
  const groups = await Promise.all([
    endedRunConditions(inputs),
    connectionConditions(inputs),
    heldRunConditions(inputs),
    eventConditions(inputs),
    pollConditions(inputs),
    scheduleConditions(inputs),
    driftConditions(inputs),
    reconciliationConditions(inputs),
    channelConditions(inputs),
    webhookConditions(inputs),
  ]);
  return groups.flat();
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const minutes = (ms: number) => plural(Math.round(ms / 60_000), "minute");
/** What is left before an expiry, in the unit that reads best: "5 hours", "3 days". */
const timeLeft = (ms: number) =>
  ms >= 2 * 86_400_000
    ? plural(Math.floor(ms / 86_400_000), "day")
    : ms >= 2 * 3_600_000
      ? plural(Math.floor(ms / 3_600_000), "hour")
      : minutes(ms);

async function endedRunConditions({ storage, rules, now, channelIntegrations }: RuleInputs): Promise<Condition[]> {
  const windows = [rules.runDead, rules.runFailed, rules.errorRate].filter((r) => r !== false);
  if (windows.length === 0 && rules.consecutiveFailures === false) return [];
  const widest = Math.max(0, ...windows.map((r) => r.windowMs));
  // Alert deliveries are judged by channelFailing, not as an integration of their own.
  const delivering = new Set(channelIntegrations.values());
  const ended = (await storage.alerts.countEndedRuns(now - widest)).filter((e) => !delivering.has(e.integrationId));
  const conditions: Condition[] = [];
  const byIntegration = new Map<string, { succeeded: number; failed: number; dead: number }>();
  for (const e of ended) {
    const counts = byIntegration.get(e.integrationId) ?? { succeeded: 0, failed: 0, dead: 0 };
    counts[e.status] += e.count;
    byIntegration.set(e.integrationId, counts);
  }
  // The widest window was read once; a narrower rule counts again in its own window.
  const within = async (windowMs: number) =>
    windowMs === widest
      ? ended
      : (await storage.alerts.countEndedRuns(now - windowMs)).filter((e) => !delivering.has(e.integrationId));
  for (const [rule, config, status] of [
    ["run_dead", rules.runDead, "dead"],
    ["run_failed", rules.runFailed, "failed"],
  ] as const) {
    if (config === false) continue;
    for (const e of await within(config.windowMs)) {
      if (e.status !== status || e.count === 0) continue;
      conditions.push({
        rule,
        subject: `integration:${e.integrationId}`,
        severity: status === "dead" ? "critical" : "warning",
        summary: `${plural(e.count, `${status} run`)} of integration ${e.integrationId} in the last ${minutes(config.windowMs)}`,
        labels: { integration: e.integrationId, status },
        count: e.count,
        link: `/api/runs?integration=${encodeURIComponent(e.integrationId)}&status=${status}`,
      });
    }
  }
  if (rules.errorRate !== false) {
    const { threshold, minRuns, windowMs } = rules.errorRate;
    const counts = new Map<string, { total: number; bad: number }>();
    for (const e of await within(windowMs)) {
      const c = counts.get(e.integrationId) ?? { total: 0, bad: 0 };
      c.total += e.count;
      if (e.status !== "succeeded") c.bad += e.count;
      counts.set(e.integrationId, c);
    }
    for (const [integrationId, { total, bad }] of counts) {
      if (total < minRuns || bad / total <= threshold) continue;
      conditions.push({
        rule: "error_rate",
        subject: `integration:${integrationId}`,
        severity: "warning",
        summary: `${Math.round((100 * bad) / total)}% of integration ${integrationId}'s runs failed in the last ${minutes(windowMs)} (${bad} of ${total}; threshold ${Math.round(threshold * 100)}%)`,
        labels: { integration: integrationId },
        count: bad,
        link: `/api/runs?integration=${encodeURIComponent(integrationId)}`,
      });
    }
  }
  if (rules.consecutiveFailures !== false) {
    const { count } = rules.consecutiveFailures;
    // Only an integration with a failure in the widest window can have failed its last runs recently.
    const suspects = [...byIntegration].filter(([, c]) => c.failed + c.dead > 0).map(([id]) => id);
    for (const integrationId of suspects) {
      const last = await storage.alerts.lastEndedStatuses(integrationId, count);
      if (last.length < count || last.some((status) => status === "succeeded")) continue;
      conditions.push({
        rule: "consecutive_failures",
        subject: `integration:${integrationId}`,
        severity: "critical",
        summary: `integration ${integrationId}'s last ${count} runs all failed`,
        labels: { integration: integrationId },
        count,
        link: `/api/runs?integration=${encodeURIComponent(integrationId)}`,
      });
    }
  }
  return conditions;
}

async function connectionConditions(inputs: RuleInputs): Promise<Condition[]> {
  const { storage, rules, now, connectionIds } = inputs;
  const renewed = inputs.renewedConnectionIds ?? new Set<string>();
  const conditions: Condition[] = [];
  const link = (id: string) => `/api/health#connection-${encodeURIComponent(id)}`;
  if (rules.authFailed || rules.credentialsExpiring !== false) {
    for (const record of await storage.connections.listConnections()) {
      if (rules.authFailed && record.status === "auth_failed") {
        conditions.push({
          rule: "auth_failed",
          subject: `connection:${record.id}`,
          severity: "critical",
          summary: `connection ${record.id}: its credentials were rejected${record.statusReason ? ` (${record.statusReason})` : ""}; runs that need it are paused until they are updated`,
          labels: { connection: record.id },
          count: 1,
          link: link(record.id),
        });
      }
      const expiring = rules.credentialsExpiring;
      if (
        expiring !== false &&
        record.expiresAt !== null &&
        !renewed.has(record.id) &&
        record.expiresAt - now <= expiring.withinMs
      ) {
        const left = record.expiresAt - now;
        conditions.push({
          rule: "credentials_expiring",
          subject: `connection:${record.id}`,
          severity: left <= 0 ? "critical" : "warning",
          summary:
            left <= 0
              ? `connection ${record.id}: its credentials expired ${new Date(record.expiresAt).toISOString()}`
              : `connection ${record.id}: its credentials expire ${new Date(record.expiresAt).toISOString()} (in ${timeLeft(left)})`,
          labels: { connection: record.id },
          count: 1,
          link: link(record.id),
        });
      }
    }
  }
  if (rules.circuitOpen !== false) {
    const { longerThanMs } = rules.circuitOpen;
    for (const connectionId of connectionIds) {
      const circuit = await storage.connections.getCircuit(connectionId);
      if (circuit.status === "closed" || circuit.openedAt === null || now - circuit.openedAt < longerThanMs) continue;
      conditions.push({
        rule: "circuit_open",
        subject: `connection:${connectionId}`,
        severity: "critical",
        summary: `connection ${connectionId}: its circuit has been open for ${minutes(now - circuit.openedAt)} after ${plural(circuit.consecutiveFailures, "failure")} in a row; runs that call it wait`,
        labels: { connection: connectionId },
        count: circuit.consecutiveFailures,
        link: link(connectionId),
      });
    }
  }
  return conditions;
}

async function heldRunConditions({ storage, rules, now }: RuleInputs): Promise<Condition[]> {
  const conditions: Condition[] = [];
  for (const [rule, config, status] of [
    ["runs_waiting", rules.runsWaiting, "waiting"],
    ["runs_paused", rules.runsPaused, "paused"],
  ] as const) {
    if (config === false) continue;
    for (const held of await storage.alerts.countHeldRuns(status, now - config.longerThanMs)) {
      const on = held.connectionId === null ? "" : ` on connection ${held.connectionId}`;
      conditions.push({
        rule,
        subject: `integration:${held.integrationId}${held.connectionId === null ? "" : `/connection:${held.connectionId}`}`,
        severity: "warning",
        summary: `${plural(held.count, "run")} of integration ${held.integrationId} ${held.count === 1 ? "has" : "have"} been ${status}${on} for more than ${minutes(config.longerThanMs)} (the longest for ${minutes(now - held.heldSince)})`,
        labels: {
          integration: held.integrationId,
          ...(held.connectionId === null ? {} : { connection: held.connectionId }),
        },
        count: held.count,
        link: `/api/runs?integration=${encodeURIComponent(held.integrationId)}&status=${status}`,
      });
    }
  }
  return conditions;
}

async function eventConditions({ storage, rules, now }: RuleInputs): Promise<Condition[]> {
  const conditions: Condition[] = [];
  if (rules.quarantined !== false) {
    const { windowMs } = rules.quarantined;
    for (const q of await storage.alerts.countQuarantinedEvents(now - windowMs)) {
      conditions.push({
        rule: "quarantined",
        subject: `source:${q.source}`,
        severity: "warning",
        summary: `${plural(q.count, "event")} from ${q.source} quarantined in the last ${minutes(windowMs)}: kept with the reason, not processed`,
        labels: { source: q.source },
        count: q.count,
        link: `/api/events?source=${encodeURIComponent(q.source)}&status=quarantined`,
      });
    }
  }
  for (const rule of rules.noEvents) {
    if (rule.between !== null && !withinHours(now, rule.between)) continue;
    const last = await storage.readApi.lastEventAt(rule.source);
    // Quiet hours end the watch: the period counts from the start of the watched hours at the earliest.
    const watchedFrom = rule.between === null ? Number.NEGATIVE_INFINITY : startOfHours(now, rule.between[0]);
    const since = Math.max(last ?? Number.NEGATIVE_INFINITY, watchedFrom);
    if (since !== Number.NEGATIVE_INFINITY && now - since < rule.periodMs) continue;
    conditions.push({
      rule: "no_events",
      subject: `source:${rule.source}`,
      severity: "warning",
      summary:
        last === null
          ? `no event from ${rule.source} has ever been received`
          : `no event from ${rule.source} for ${minutes(now - last)} (the last at ${new Date(last).toISOString()})`,
      labels: { source: rule.source },
      count: 1,
      link: `/api/events?source=${encodeURIComponent(rule.source)}`,
    });
  }
  return conditions;
}

async function pollConditions({ storage, rules, now, pollIds }: RuleInputs): Promise<Condition[]> {
  if (rules.pollFailing === false) return [];
  const { failures, lateByMs } = rules.pollFailing;
  const conditions: Condition[] = [];
  for (const pollId of pollIds) {
    const state = await storage.getPollState(pollId);
    if (!state) continue;
    const base = { rule: "poll_failing", subject: `poll:${pollId}`, labels: { poll: pollId }, link: "/api/health" };
    if (state.consecutiveFailures >= failures) {
      conditions.push({
        ...base,
        severity: "critical",
        summary: `poll ${pollId} failed ${state.consecutiveFailures} times in a row: ${state.lastError ?? "no error recorded"}`,
        count: state.consecutiveFailures,
      });
    } else if (now - state.nextPollAt > lateByMs && !((state.leaseUntil ?? 0) > now)) {
      // Late, and no worker is polling it now (a poll in progress holds its lease; a stuck one outlives it).
      conditions.push({
        ...base,
        severity: "warning",
        summary: `poll ${pollId} is ${minutes(now - state.nextPollAt)} late: no worker has polled it since it was due`,
        count: 1,
      });
    }
  }
  return conditions;
}

/** A schedule tick overdue by more than the grace period that no worker fired (none running, or all stuck). */
async function scheduleConditions({ storage, rules, now, schedules }: RuleInputs): Promise<Condition[]> {
  if (rules.scheduleMissed === false) return [];
  const { graceMs } = rules.scheduleMissed;
  const conditions: Condition[] = [];
  for (const { integrationId, cron } of schedules) {
    const lastTick = await storage.getScheduleLastTick(integrationId);
    // Never fired: the first tick counts from a scheduler's start, which the rule cannot know.
    if (lastTick === null) continue;
    const missed = latestTickBetween(cron, lastTick, now - graceMs);
    if (missed === undefined) continue;
    conditions.push({
      rule: "schedule_missed",
      subject: `schedule:${integrationId}`,
      severity: "critical",
      summary: `schedule ${integrationId} missed its tick of ${new Date(missed).toISOString()} (last fired ${new Date(lastTick).toISOString()}): is any worker running?`,
      labels: { integration: integrationId },
      count: 1,
      link: `/api/runs?integration=${encodeURIComponent(integrationId)}`,
    });
  }
  return conditions;
}

/** Open breaking drift incidents: the API changed a field the code reads. Accepting the shape resolves them. */
async function driftConditions({ storage, rules }: RuleInputs): Promise<Condition[]> {
  if (!rules.drift) return [];
  const incidents = await storage.drift.listIncidents({ open: true, breaking: true, limit: 500 });
  return incidents.map((incident) => {
    const where =
      incident.kind === "connection"
        ? `connection ${incident.subject}, ${incident.method} ${incident.routeTemplate} (${incident.status})`
        : `webhook source ${incident.subject}, event ${incident.eventType}`;
    const change = incident.change.replaceAll("_", " ");
    const example = incident.example === null ? "" : `; now ${incident.example}`;
    return {
      rule: "drift",
      subject:
        `${incident.kind}:${incident.subject}/field:${incident.fieldPath}/${incident.method ?? incident.eventType ?? ""} ${incident.routeTemplate ?? ""}`.trim(),
      severity: "critical" as const,
      summary: `breaking API drift at ${where}: field ${incident.fieldPath} ${change}${example} (seen ${incident.seenCount} times); the code reads it. Accept the new shape with \`tenon drift accept ${incident.id}\` once the code is fixed`,
      labels: {
        [incident.kind]: incident.subject,
        field: incident.fieldPath,
        change: incident.change,
        ...(incident.routeTemplate === null ? {} : { route: `${incident.method} ${incident.routeTemplate}` }),
        ...(incident.eventType === null ? {} : { event_type: incident.eventType }),
      },
      count: incident.seenCount,
      link: `/api/drift?open=true`,
    };
  });
}

/** Open reconciliation findings: one alert per reconciliation, resolved once a run finds none left open. */
async function reconciliationConditions({ storage, rules }: RuleInputs): Promise<Condition[]> {
  if (!rules.reconciliationFindings) return [];
  const open = await storage.reconcile.countOpenFindings();
  return open.map(({ reconciliationId, open: count, newestAt }) => ({
    rule: "reconciliation_findings",
    subject: `reconciliation:${reconciliationId}`,
    severity: "warning" as const,
    summary: `reconciliation ${reconciliationId} has ${plural(count, "open finding")} (the newest first seen ${new Date(newestAt).toISOString()}): records missing or differing between the two systems. See \`tenon reconcile report ${reconciliationId}\``,
    labels: { reconciliation: reconciliationId },
    count,
    link: `/api/reconciliations/${encodeURIComponent(reconciliationId)}/findings`,
  }));
}

async function channelConditions({ storage, rules, now, channelIntegrations }: RuleInputs): Promise<Condition[]> {
  if (!rules.channelFailing) return [];
  const conditions: Condition[] = [];
  for (const [channel, integrationId] of channelIntegrations) {
    const failing = await storage.alerts.countFailingRuns(integrationId, now - 24 * 3_600_000);
    const count = failing.retrying + failing.dead;
    if (count === 0) continue;
    conditions.push({
      rule: "channel_failing",
      subject: `channel:${channel}`,
      severity: "critical",
      summary: `alert channel ${channel} is failing: ${plural(failing.retrying, "delivery", "deliveries")} retrying, ${failing.dead} given up in the last 24 hours; alerts for it are kept and retried`,
      labels: { channel },
      count,
      link: `/api/runs?integration=${encodeURIComponent(integrationId)}`,
    });
  }
  return conditions;
}

/** Operational webhook subscribers disabled after failing for too long: nothing is delivered to them. */
async function webhookConditions({ storage, rules, webhookSubscribers = [] }: RuleInputs): Promise<Condition[]> {
  if (!rules.webhookDisabled || webhookSubscribers.length === 0) return [];
  const configured = new Set(webhookSubscribers);
  const disabled = (await storage.operationalWebhooks.listSubscriberHealth()).filter(
    (health) => configured.has(health.name) && health.disabledAt !== null,
  );
  return disabled.map((health) => ({
    rule: "webhook_disabled",
    subject: `webhook:${health.name}`,
    severity: "critical" as const,
    summary: `operational webhook ${health.name} is disabled since ${new Date(health.disabledAt as number).toISOString()}: ${health.disabledReason ?? "its deliveries kept failing"}; what happens is not sent to it until it is enabled again (\`tenon webhooks enable ${health.name}\`)`,
    labels: { webhook: health.name },
    count: health.skipped,
    link: "/api/operational-webhooks",
  }));
}

/** Whether `now` (UTC) is within [from, to) minutes of the day; a range past midnight wraps. */
function withinHours(now: number, [from, to]: [number, number]): boolean {
  const minute = Math.floor((now % 86_400_000) / 60_000);
  return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
}

/** The most recent moment (at or before `now`) the watched hours began. */
function startOfHours(now: number, from: number): number {
  const dayStart = now - (now % 86_400_000);
  const start = dayStart + from * 60_000;
  return start <= now ? start : start - 86_400_000;
}

/** Where to look about a subject, when no rule gives a narrower place (a resolved alert's link). */
export function linkFor(subject: string): string {
  const [kind, rest = ""] = subject.split(":", 2) as [string, string?];
  const name = encodeURIComponent(rest.split("/")[0] ?? "");
  switch (kind) {
    case "integration":
      return `/api/runs?integration=${name}`;
    case "connection":
      return `/api/health#connection-${name}`;
    case "source":
      return `/api/events?source=${name}`;
    case "webhook":
      return "/api/operational-webhooks";
    default:
      return "/api/health";
  }
}
