import type { RunTimeline } from "./run-timeline.ts";

const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

/**
 * A run's timeline as JSON, the same for `tenon runs show --json` and `GET /api/runs/:id`: times in ISO 8601
 * (UTC), errors and bodies in full, exchanges as the audit trail stored them (secrets already redacted).
 */
export function runTimelineToJson({ run, event, steps, happenings, stateChanges, exchanges, incidents }: RunTimeline) {
  return {
    run: {
      id: run.id,
      integrationId: run.integrationId,
      eventId: run.eventId,
      status: run.status,
      lastError: run.lastError,
      waitingOn: run.waitingOn,
      concurrencyKey: run.concurrencyKey,
      failures: run.failures,
      crashes: run.crashes,
      createdAt: iso(run.createdAt),
      startedAt: iso(run.startedAt),
      finishedAt: iso(run.finishedAt),
      availableAt: iso(run.availableAt),
      output: run.outputJson === null ? null : JSON.parse(run.outputJson),
    },
    event: event && {
      id: event.id,
      source: event.source,
      type: event.type,
      providerId: event.dedupKey,
      receivedAt: iso(event.receivedAt),
    },
    steps: steps.map((step) => ({
      ...step,
      attempts: step.attempts.map((a) => ({
        ...a,
        startedAt: iso(a.startedAt),
        finishedAt: iso(a.finishedAt),
        durationMs: a.startedAt === null ? null : a.finishedAt - a.startedAt,
      })),
    })),
    stateChanges: stateChanges.map((c) => ({ ...c, at: iso(c.at), until: iso(c.until) })),
    happenings: happenings.map((h) => ({ ...h, startedAt: iso(h.startedAt), at: iso(h.at), until: iso(h.until) })),
    exchanges: exchanges.map((e) => ({ ...e, at: iso(e.at) })),
    incidents: incidents.map((i) => ({ ...i, at: iso(i.at) })),
  };
}
