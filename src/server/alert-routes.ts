import type { FastifyInstance } from "fastify";
import { alertToJson } from "../alerting/alert-json.ts";
import { alertEventSource } from "../alerting/alerting.ts";
import { deliveryToJson } from "../alerting/delivery-json.ts";
import { type Duration, durationToMs } from "../sdk/duration.ts";
import type { AlertStatus, AlertStore } from "../storage/alert-store.ts";
import { sendError } from "./http-errors.ts";

const operator = { config: { role: "operator" } } as const;
const statuses: AlertStatus[] = ["firing", "resolved"];
/** A snooze longer than this is a rule that should be switched off instead. */
const maxSnoozeMs = 30 * 24 * 3_600_000;
const maxDeliveries = 500;

/**
 * `GET /api/alerts?status=firing|resolved&limit` (viewer), newest first; `POST /api/alerts/:id/ack` and
 * `POST /api/alerts/:id/snooze` with `{ "for": "2h" }` (operator, written to the operator log). An
 * acknowledged alert is not told again until it resolves; a snoozed one not before the snooze ends.
 * `GET /api/alerts/deliveries?limit` (viewer): the newest notifications' deliveries, one per channel, each with
 * its state (delivered, sending, retrying, failed) and last error: every delivery is a durable run of its own.
 */
export function registerAlertRoutes(app: FastifyInstance, alerts: AlertStore): void {
  app.get<{ Querystring: { status?: string; limit?: string } }>("/api/alerts", async (request, reply) => {
    const { status, limit: rawLimit } = request.query;
    if (status !== undefined && !statuses.includes(status as AlertStatus)) {
      return sendError(reply, 400, "invalid_status", `status must be one of ${statuses.join(", ")}`);
    }
    const limit = rawLimit === undefined ? 100 : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      return sendError(reply, 400, "invalid_limit", "limit must be a whole number from 1 to 1000");
    }
    const listed = await alerts.listAlerts({ ...(status ? { status: status as AlertStatus } : {}), limit });
    return { alerts: listed.map(alertToJson) };
  });

  app.get<{ Querystring: { limit?: string } }>("/api/alerts/deliveries", async (request, reply) => {
    const { limit: rawLimit } = request.query;
    const limit = rawLimit === undefined ? 50 : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxDeliveries) {
      return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxDeliveries}`);
    }
    const deliveries = await alerts.listNotificationDeliveries(alertEventSource, limit);
    return { deliveries: deliveries.map(deliveryToJson) };
  });

  app.post<{ Params: { id: string } }>("/api/alerts/:id/ack", operator, async (request, reply) => {
    const { id: fingerprint } = request.params;
    const by = `api:${request.apiPrincipal?.name ?? "unknown"}`;
    const acked = await alerts.ackAlert(fingerprint, by, Date.now());
    if (!acked) return notFiring(reply, alerts, fingerprint);
    request.operatorLogDetail = `acknowledged ${acked.rule} on ${acked.subject}`;
    return { alert: alertToJson(acked) };
  });

  app.post<{ Params: { id: string } }>("/api/alerts/:id/snooze", operator, async (request, reply) => {
    const { id: fingerprint } = request.params;
    const forMs = parseSnooze(request.body);
    if (typeof forMs === "string") return sendError(reply, 400, "invalid_snooze", forMs);
    const snoozed = await alerts.snoozeAlert(fingerprint, Date.now() + forMs);
    if (!snoozed) return notFiring(reply, alerts, fingerprint);
    request.operatorLogDetail = `snoozed ${snoozed.rule} on ${snoozed.subject} for ${Math.round(forMs / 60_000)} min`;
    return { alert: alertToJson(snoozed) };
  });
}

async function notFiring(reply: Parameters<typeof sendError>[0], alerts: AlertStore, fingerprint: string) {
  const known = await alerts.getAlert(fingerprint);
  if (!known) return sendError(reply, 404, "unknown_alert", `no alert with fingerprint ${fingerprint}`);
  return sendError(
    reply,
    409,
    "not_firing",
    `alert ${fingerprint} is ${known.status}: only a firing alert can be silenced`,
  );
}

/** `{ "for": "2h" }` → milliseconds, or what is wrong with it. */
function parseSnooze(body: unknown): number | string {
  const raw = Buffer.isBuffer(body)
    ? body.toString("utf8")
    : typeof body === "string"
      ? body
      : JSON.stringify(body ?? null);
  const usage = 'send { "for": "<duration>" }, e.g. { "for": "2h" }, at most 30d';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return `the body is not JSON; ${usage}`;
  }
  const value = (parsed as { for?: unknown } | null)?.for;
  if (typeof value !== "string" && typeof value !== "number") return usage;
  try {
    const ms = durationToMs(value as Duration);
    if (ms <= 0 || ms > maxSnoozeMs) return usage;
    return ms;
  } catch (error) {
    return `${(error as Error).message}; ${usage}`;
  }
}
