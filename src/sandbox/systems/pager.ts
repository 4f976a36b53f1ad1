import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { SandboxContext, SandboxReply, SandboxSystem } from "../sandbox-system.ts";
import { appendKept, setKept } from "./record-limits.ts";

/**
 * PagerDuty's Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
 * `POST /pager/v2/enqueue` with a service's integration key as `routing_key`, answered
 * `202 {status:"success", message:"Event processed", dedup_key}` or
 * `400 {status:"invalid event", message:"Event object is invalid", errors:[…]}`. Alerts are grouped into
 * incidents by `dedup_key` as PagerDuty does: a trigger for an open incident adds to it, acknowledge marks
 * it, resolve closes it, and a trigger after the resolve opens a new one. It keeps the newest 50,000
 * incidents and events.
 */
export interface PagerOptions {
  /** The service's integration key (32 characters); random by default. */
  routingKey?: string;
}

export type PagerEventAction = "trigger" | "acknowledge" | "resolve";
export type PagerSeverity = "critical" | "error" | "warning" | "info";
export type IncidentStatus = "triggered" | "acknowledged" | "resolved";

export interface PagerIncident {
  /** The sandbox's own incident number, in the order incidents opened. */
  id: number;
  dedupKey: string;
  status: IncidentStatus;
  summary: string;
  severity: PagerSeverity;
  source: string;
  firstEventAt: string;
  lastEventAt: string;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
  /** Every event that reached the incident: its trigger, the triggers added to it, acknowledge and resolve. */
  eventCount: number;
}

export interface PagerEvent {
  receivedAt: string;
  eventAction: PagerEventAction;
  dedupKey: string;
  /** The incident the event reached; null for an acknowledge or resolve of no open incident (PagerDuty accepts and drops those). */
  incidentId: number | null;
  /** The event as sent, its `routing_key` redacted. */
  body: Record<string, unknown>;
}

export interface PagerSystem extends SandboxSystem {
  /** Every incident (the newest 50,000), oldest first. */
  incidents(): readonly PagerIncident[];
  /** The newest incident with this dedup key. */
  incident(dedupKey: string): PagerIncident | undefined;
  /** Every accepted event (the newest 50,000), oldest first. */
  events(): readonly PagerEvent[];
}

const eventActions = ["trigger", "acknowledge", "resolve"] as const;
const severities = ["critical", "error", "warning", "info"] as const;
// PagerDuty's documented limits: summary 1024 characters, dedup_key 255.
const limits = { routingKey: 32, summary: 1024, dedupKey: 255 };

class InvalidEvent extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join("; "));
  }
}

export function createPager(context: SandboxContext, options: PagerOptions = {}): PagerSystem {
  const routingKey = options.routingKey ?? randomBytes(16).toString("hex");
  let revoked = false;
  const incidents = new Map<number, PagerIncident>();
  /** The newest incident per dedup key. */
  const latest = new Map<string, PagerIncident>();
  const events: PagerEvent[] = [];
  let incidentCount = 0;

  const open = (dedupKey: string): PagerIncident | undefined => {
    const incident = latest.get(dedupKey);
    return incident && incident.status !== "resolved" ? incident : undefined;
  };

  const apply = (event: ValidEvent): number | null => {
    const at = new Date(context.now()).toISOString();
    const current = open(event.dedupKey);
    if (event.action === "trigger" && !current) {
      incidentCount += 1;
      const incident: PagerIncident = {
        id: incidentCount,
        dedupKey: event.dedupKey,
        status: "triggered",
        summary: event.summary,
        severity: event.severity,
        source: event.source,
        firstEventAt: at,
        lastEventAt: at,
        acknowledgedAt: null,
        resolvedAt: null,
        eventCount: 1,
      };
      setKept(incidents, incident.id, incident, (dropped) => {
        if (latest.get(dropped.dedupKey) === dropped) latest.delete(dropped.dedupKey);
      });
      latest.set(incident.dedupKey, incident);
      return incident.id;
    }
    if (!current) return null;
    current.eventCount += 1;
    current.lastEventAt = at;
    if (event.action === "acknowledge" && current.status === "triggered") {
      current.status = "acknowledged";
      current.acknowledgedAt = at;
    }
    if (event.action === "resolve") {
      current.status = "resolved";
      current.resolvedAt = at;
    }
    return current.id;
  };

  return {
    name: "pager",
    incidents: () => [...incidents.values()],
    incident: (dedupKey) => latest.get(dedupKey),
    events: () => events,

    registerRoutes(app: FastifyInstance) {
      app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => answerError(error, reply));
      app.post("/v2/enqueue", async (request, reply) => {
        const event = validate(request.body, (key) => !revoked && key === routingKey);
        const incidentId = apply(event);
        appendKept(events, {
          receivedAt: new Date(context.now()).toISOString(),
          eventAction: event.action,
          dedupKey: event.dedupKey,
          incidentId,
          // The routing key is the service's secret: the state shows every event without it (the request log keeps it).
          body: { ...(request.body as Record<string, unknown>), routing_key: "[redacted]" },
        });
        return reply.code(202).send({ status: "success", message: "Event processed", dedup_key: event.dedupKey });
      });
    },

    state: () => ({
      incidents: [...incidents.values()],
      open: [...incidents.values()].filter((incident) => incident.status !== "resolved").length,
      events,
    }),
    counts: () => ({ incidents: incidents.size, events: events.length }),
    credentials: () => ({ routingKey }),
    revokeCredentials: () => {
      revoked = true;
    },
    restoreCredentials: () => {
      revoked = false;
    },
  };
}

interface ValidEvent {
  action: PagerEventAction;
  dedupKey: string;
  summary: string;
  severity: PagerSeverity;
  source: string;
}

/** Checks an event as PagerDuty does, collecting every problem into `errors`. */
function validate(body: unknown, knownKey: (key: string) => boolean): ValidEvent {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidEvent(["Event object must be a JSON object"]);
  }
  const event = body as Record<string, unknown>;
  const errors: string[] = [];
  const routingKey = event.routing_key;
  if (typeof routingKey !== "string" || routingKey.length === 0) errors.push("'routing_key' is missing or blank");
  else if (routingKey.length !== limits.routingKey) {
    errors.push(`Length of 'routing_key' is incorrect (should be ${limits.routingKey} characters)`);
  } else if (!knownKey(routingKey)) errors.push("Invalid routing key");

  const action = event.event_action;
  if (!eventActions.includes(action as PagerEventAction)) {
    errors.push(`'event_action' is invalid (must be one of: ${eventActions.join(", ")})`);
  }
  const dedupKey = event.dedup_key;
  if (dedupKey !== undefined && (typeof dedupKey !== "string" || dedupKey.length > limits.dedupKey)) {
    errors.push(`'dedup_key' must be a string of at most ${limits.dedupKey} characters`);
  }
  if ((action === "acknowledge" || action === "resolve") && (typeof dedupKey !== "string" || dedupKey.length === 0)) {
    errors.push("'dedup_key' is required for acknowledge and resolve events");
  }

  const payload = event.payload;
  const isTrigger = action === "trigger";
  if (isTrigger) errors.push(...payloadErrors(payload));
  errors.push(...listErrors(event.links, "links", "href"), ...listErrors(event.images, "images", "src"));
  if (errors.length > 0) throw new InvalidEvent(errors);

  const fields = (isTrigger ? payload : {}) as Record<string, unknown>;
  return {
    action: action as PagerEventAction,
    dedupKey: typeof dedupKey === "string" && dedupKey.length > 0 ? dedupKey : randomBytes(16).toString("hex"),
    summary: (fields.summary as string | undefined) ?? "",
    severity: (fields.severity as PagerSeverity | undefined) ?? "info",
    source: (fields.source as string | undefined) ?? "",
  };
}

function payloadErrors(payload: unknown): string[] {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return ["'payload' is missing or not an object"];
  }
  const fields = payload as Record<string, unknown>;
  const errors: string[] = [];
  if (typeof fields.summary !== "string" || fields.summary.trim().length === 0) {
    errors.push("'payload.summary' is missing or blank");
  } else if (fields.summary.length > limits.summary) {
    errors.push(`'payload.summary' is longer than ${limits.summary} characters`);
  }
  if (typeof fields.source !== "string" || fields.source.trim().length === 0) {
    errors.push("'payload.source' is missing or blank");
  }
  if (!severities.includes(fields.severity as PagerSeverity)) {
    errors.push(`'payload.severity' is invalid (must be one of: ${severities.join(", ")})`);
  }
  if (
    fields.timestamp !== undefined &&
    (typeof fields.timestamp !== "string" || Number.isNaN(Date.parse(fields.timestamp)))
  ) {
    errors.push("'payload.timestamp' must be an ISO 8601 date-time");
  }
  for (const name of ["component", "group", "class"]) {
    if (fields[name] !== undefined && typeof fields[name] !== "string")
      errors.push(`'payload.${name}' must be a string`);
  }
  return errors;
}

/** `links` (`{ href, text? }`) and `images` (`{ src, href?, alt? }`): arrays of objects with their URL. */
function listErrors(list: unknown, name: string, urlField: string): string[] {
  if (list === undefined) return [];
  const valid =
    Array.isArray(list) &&
    list.every(
      (item) =>
        typeof item === "object" && item !== null && typeof (item as Record<string, unknown>)[urlField] === "string",
    );
  return valid ? [] : [`'${name}' must be an array of objects with '${urlField}'`];
}

/** PagerDuty's 400 body; a body that is not JSON at all is one as well. */
function answerError(error: Error & { statusCode?: number }, reply: SandboxReply) {
  const errors =
    error instanceof InvalidEvent ? error.errors : error.statusCode === 400 ? ["Request body is not valid JSON"] : null;
  if (errors) return reply.code(400).send({ status: "invalid event", message: "Event object is invalid", errors });
  return reply.code(500).send({ status: "error", message: error.message });
}
