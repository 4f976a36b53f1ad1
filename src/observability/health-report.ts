import { Cron } from "croner";
import type { ConnectionSummary } from "../connections/connections.ts";
import type { Storage } from "../storage/contract.ts";
import { countCap, type IntegrationFacts } from "../storage/read-api-store.ts";
import { connectionsHealth } from "./connection-health.ts";
import type { RejectionsReader } from "./recent-rejections.ts";
import { amber, green, hourMs, iso, minutes, red, type Verdict } from "./verdict.ts";

/** What the report covers: the deployment's configuration, and where to read each part's state. */
export interface HealthInputs {
  storage: Storage;
  integrationIds: readonly string[];
  schedules: readonly { integrationId: string; cron: string; timezone?: string }[];
  polls: readonly { id: string; everyMs: number }[];
  webhookSources: readonly string[];
  connections?: { list(): Promise<ConnectionSummary[]> };
  rejections: RejectionsReader;
  now: number;
}

/** A queued run older than these is late: the workers are behind (amber) or not working (red). */
const queuedLateMs = { amber: 60_000, red: 10 * 60_000 };
/** Below this success rate over the last hour (with at least `minEnded` runs ended), an integration is red. */
const redSuccessRate = 0.5;
const minEnded = 4;
/** A schedule tick not fired this long after its time is missed. */
const tickGraceMs = 60_000;
/** Polls failing this many times in a row are red. */
const redPollFailures = 3;
/** Rejections this many in the last hour with no event received means every request fails: a secret is wrong. */
const redRejections = 10;

/**
 * `GET /api/health`: per integration, connection, webhook source, poll and schedule, what state it is in and a
 * verdict. Every figure comes from a bounded query (an index walk that stops at a limit, see read-api-store.ts),
 * so the report costs the same on a database of a million runs as on an empty one.
 */
export async function buildHealthReport(inputs: HealthInputs) {
  const { storage, now } = inputs;
  const [integrations, connections, webhookSources, polls, schedules] = await Promise.all([
    Promise.all(inputs.integrationIds.map((id) => integrationHealth(storage, id, now))),
    inputs.connections ? connectionsHealth(storage, inputs.connections, now) : [],
    Promise.all(inputs.webhookSources.map((source) => sourceHealth(inputs, source))),
    Promise.all(inputs.polls.map((poll) => pollHealth(storage, poll, now))),
    Promise.all(inputs.schedules.map((schedule) => scheduleHealth(storage, schedule, now))),
  ]);
  const all = [...integrations, ...connections, ...webhookSources, ...polls, ...schedules];
  const worst = all.some((e) => e.status === "red") ? "red" : all.some((e) => e.status === "amber") ? "amber" : "green";
  return { status: worst, checkedAt: iso(now), integrations, connections, webhookSources, polls, schedules };
}

async function integrationHealth(storage: Storage, id: string, now: number) {
  const facts = await storage.readApi.integrationFacts(id, now, hourMs);
  const { succeeded, failed, dead } = facts.ended;
  const ended = succeeded + failed + dead;
  const successRate = ended === 0 ? null : succeeded / ended;
  return {
    id,
    ...judgeIntegration(facts, successRate, now),
    runs: facts.backlog,
    lastHour: {
      succeeded,
      failed,
      dead,
      /** true: some count stopped at the cap (reported as it); the success rate is then an estimate. */
      capped: facts.capped,
      successRate,
      p95DurationMs: percentile(facts.durationsMs, 0.95),
    },
    lastSuccessAt: iso(facts.lastSuccess?.at ?? null),
    lastFailure: facts.lastFailure && { ...facts.lastFailure, at: iso(facts.lastFailure.at) },
    oldestQueued: facts.oldestQueued && {
      runId: facts.oldestQueued.runId,
      createdAt: iso(facts.oldestQueued.createdAt),
      ageMs: Math.max(0, now - facts.oldestQueued.createdAt),
    },
  };
}

function judgeIntegration(facts: IntegrationFacts, successRate: number | null, now: number): Verdict {
  const { backlog, ended } = facts;
  const queuedAge = facts.oldestQueued ? now - facts.oldestQueued.createdAt : 0;
  const failedCount = ended.failed + ended.dead;
  const endedCount = ended.succeeded + failedCount;
  if (backlog.paused) {
    return red(`${backlog.paused} run(s) paused: a connection's credentials were rejected; update them to resume`);
  }
  if (successRate !== null && endedCount >= minEnded && successRate < redSuccessRate) {
    return red(`${failedCount} of ${endedCount} runs ended failed or dead in the last hour`);
  }
  if (queuedAge > queuedLateMs.red) {
    return red(`the oldest queued run has waited ${minutes(queuedAge)}: are workers running?`);
  }
  if (failedCount > 0)
    return amber(`${failedCount} run(s) ended failed or dead in the last hour: replay them once fixed`);
  if (backlog.waiting) return amber(`${backlog.waiting} run(s) waiting for a rate limit or an open circuit`);
  if (queuedAge > queuedLateMs.amber) return amber(`the oldest queued run has waited ${minutes(queuedAge)}`);
  if (backlog.retrying) return amber(`${backlog.retrying} run(s) retrying after a failed attempt`);
  const count = ended.succeeded >= countCap ? `${countCap} or more` : String(ended.succeeded);
  return green(endedCount === 0 ? "no runs ended in the last hour" : `${count} run(s) succeeded in the last hour`);
}

async function sourceHealth(inputs: HealthInputs, source: string) {
  const { now } = inputs;
  const lastEventAt = await inputs.storage.readApi.lastEventAt(source);
  const rejections = inputs.rejections.inLastWindow(source, now);
  const rejected = Object.values(rejections).reduce((sum, n) => sum + n, 0);
  const quiet = lastEventAt === null || now - lastEventAt > hourMs;
  let verdict: Verdict;
  if (rejected >= redRejections && quiet) {
    verdict = red(`${rejected} requests rejected in the last hour and none accepted: check the source's secret`);
  } else if (rejected > 0) {
    verdict = amber(`${rejected} request(s) rejected in the last hour (${describeChecks(rejections)})`);
  } else {
    verdict = green(lastEventAt === null ? "no event received yet" : "receiving events");
  }
  return { source, ...verdict, lastEventAt: iso(lastEventAt), rejectionsLastHour: rejections };
}

async function pollHealth(storage: Storage, poll: { id: string; everyMs: number }, now: number) {
  const state = await storage.getPollState(poll.id);
  const lastSuccessAt = state?.lastSuccessAt ?? null;
  const lagMs = lastSuccessAt === null ? null : Math.max(0, now - lastSuccessAt);
  const failures = state?.consecutiveFailures ?? 0;
  let verdict: Verdict;
  if (failures >= redPollFailures) verdict = red(`${failures} polls failed in a row: ${state?.lastError ?? ""}`.trim());
  else if (failures > 0) verdict = amber(`the last poll failed: ${state?.lastError ?? ""}`.trim());
  else if (lagMs !== null && lagMs > 2 * poll.everyMs + tickGraceMs) {
    verdict = amber(`no successful poll for ${minutes(lagMs)} (it polls every ${minutes(poll.everyMs)})`);
  } else verdict = green(lastSuccessAt === null ? "not polled yet" : "polling");
  return {
    id: poll.id,
    ...verdict,
    lastSuccessAt: iso(lastSuccessAt),
    lastError: state?.lastError ?? null,
    lastErrorAt: iso(state?.lastErrorAt ?? null),
    consecutiveFailures: failures,
    lagMs,
    nextPollAt: iso(state?.nextPollAt ?? null),
  };
}

async function scheduleHealth(
  storage: Storage,
  schedule: { integrationId: string; cron: string; timezone?: string },
  now: number,
) {
  const cron = new Cron(schedule.cron, { paused: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) });
  const lastTick = await storage.getScheduleLastTick(schedule.integrationId);
  const nextTick = cron.nextRun(new Date(now))?.getTime() ?? null;
  const dueAfterLast = lastTick === null ? null : (cron.nextRun(new Date(lastTick))?.getTime() ?? null);
  const missed = dueAfterLast !== null && dueAfterLast < now - tickGraceMs;
  const verdict = missed
    ? red(`the tick of ${iso(dueAfterLast)} was not fired: is any worker running?`)
    : green(lastTick === null ? "no tick fired yet" : "firing on time");
  return {
    integrationId: schedule.integrationId,
    cron: schedule.cron,
    ...verdict,
    lastTickAt: iso(lastTick),
    nextTickAt: iso(nextTick),
  };
}

/** The nearest-rank percentile; null without values. */
function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? null;
}

function describeChecks(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([check, n]) => `${check}: ${n}`)
    .join(", ");
}
