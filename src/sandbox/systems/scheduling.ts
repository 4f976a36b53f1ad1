import { createHmac, randomBytes, randomInt } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SandboxContext, SandboxReply, SandboxRequest, SandboxSystem } from "../sandbox-system.ts";
import { standardWebhooksRetries } from "../webhook-retry-schedules.ts";
import { setKept } from "./record-limits.ts";

/**
 * A scheduling system (appointments of a salon, a clinic, a garage) with Tenon's own small "v1" API,
 * documented in `src/connectors/scheduling/README.md`: bearer API key, JSON, and an
 * `appointment.completed` webhook signed per Standard Webhooks (https://www.standardwebhooks.com).
 * Control: `POST /_sandbox/scheduling/appointments` books an appointment and completes it at once.
 * It keeps the newest 50,000 appointments (`maxKeptRecords`) and drops older ones, so hours of demo
 * traffic stay in bounded memory.
 */
export interface SchedulingOptions {
  /** The API key (`Authorization: Bearer …`); random by default. */
  token?: string;
  /** The webhook signing secret, `whsec_` + base64; random by default. */
  webhookSecret?: string;
}

export type AppointmentStatus = "booked" | "completed" | "cancelled";

export interface Appointment {
  id: string;
  object: "appointment";
  status: AppointmentStatus;
  customer: { name: string; email: string; phone: string };
  service: string;
  /** Decimal string, e.g. "45.00". */
  price: string;
  currency: string;
  starts_at: string;
  ends_at: string;
  completed_at: string | null;
  created_at: string;
  updated_at: string;
}

/** What a booking may give; the control route fills the rest with a realistic random customer and service. */
export type AppointmentInput = Partial<Omit<Appointment, "id" | "object" | "status" | "customer">> & {
  customer?: Partial<Appointment["customer"]>;
};

export interface SchedulingSystem extends SandboxSystem {
  appointments(): readonly Appointment[];
  /** Books an appointment and completes it at once: the `appointment.completed` webhook is sent. */
  completeAppointment(input?: AppointmentInput): Appointment;
}

const bookingInput = z.strictObject({
  customer: z.strictObject({
    name: z.string().trim().min(1).max(200),
    email: z.email(),
    phone: z.string().regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 number like +14155550123"),
  }),
  service: z.string().trim().min(1).max(200),
  price: z.string().regex(/^\d{1,9}(\.\d{1,2})?$/, 'must be a decimal string like "45.00"'),
  currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like USD"),
  starts_at: z.iso.datetime({ offset: true }),
  ends_at: z.iso.datetime({ offset: true }),
});

const listQuery = z.object({
  status: z.enum(["booked", "completed", "cancelled"]).optional(),
  updated_since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

export function createScheduling(context: SandboxContext, options: SchedulingOptions = {}): SchedulingSystem {
  const token = options.token ?? `sk_sched_${randomBytes(20).toString("hex")}`;
  const webhookSecret = options.webhookSecret ?? `whsec_${randomBytes(24).toString("base64")}`;
  let revoked = false;
  const appointments = new Map<string, Appointment>();
  let webhooksSent = 0;

  const authorize = (request: SandboxRequest): void => {
    const [scheme, given] = (request.headers.authorization ?? "").split(" ");
    if (scheme?.toLowerCase() !== "bearer" || !given) {
      throw new ApiError(401, "unauthorized", "Give the API key as `Authorization: Bearer <key>`.");
    }
    if (revoked || given !== token) throw new ApiError(401, "unauthorized", "The API key is invalid or was revoked.");
  };

  const book = (input: unknown): Appointment => {
    const parsed = bookingInput.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const param = issue?.path.join(".") || undefined;
      throw new ApiError(422, "invalid_request", `${param ?? "body"}: ${issue?.message ?? "invalid"}`, param);
    }
    const booking = parsed.data;
    if (Date.parse(booking.ends_at) <= Date.parse(booking.starts_at)) {
      throw new ApiError(422, "invalid_request", "ends_at must be after starts_at", "ends_at");
    }
    const now = new Date(context.now()).toISOString();
    const appointment: Appointment = {
      id: `apt_${randomBytes(12).toString("hex")}`,
      object: "appointment",
      status: "booked",
      ...booking,
      completed_at: null,
      created_at: now,
      updated_at: now,
    };
    setKept(appointments, appointment.id, appointment);
    return appointment;
  };

  const complete = (id: string): Appointment => {
    const appointment = appointments.get(id);
    if (!appointment) throw new ApiError(404, "not_found", `No appointment ${id}.`);
    // Completing twice changes nothing and sends no second webhook: a retried call is harmless.
    if (appointment.status === "completed") return appointment;
    if (appointment.status === "cancelled") {
      throw new ApiError(409, "invalid_state", `Appointment ${id} was cancelled; it cannot be completed.`);
    }
    const now = new Date(context.now()).toISOString();
    appointment.status = "completed";
    appointment.completed_at = now;
    appointment.updated_at = now;
    sendCompleted(appointment);
    return appointment;
  };

  const sendCompleted = (appointment: Appointment): void => {
    const id = `msg_${randomBytes(14).toString("hex")}`;
    const body = JSON.stringify({
      type: "appointment.completed",
      timestamp: new Date(context.now()).toISOString(),
      data: appointment,
    });
    webhooksSent += 1;
    context.webhooks.send({
      id,
      topic: "appointment.completed",
      body,
      headers: (_attempt, now) => {
        const timestamp = String(Math.floor(now / 1000));
        return {
          "webhook-id": id,
          "webhook-timestamp": timestamp,
          "webhook-signature": standardWebhookSignature(webhookSecret, id, timestamp, body),
        };
      },
    });
  };

  const completeAppointment = (input: AppointmentInput = {}): Appointment =>
    complete(book(randomBooking(input, context.now())).id);

  return {
    name: "scheduling",
    webhookRetries: standardWebhooksRetries,
    appointments: () => [...appointments.values()],
    completeAppointment,

    registerRoutes(app: FastifyInstance) {
      app.setErrorHandler((error: Error, _request, reply) => answerError(error, reply));
      app.addHook("preHandler", async (request) => authorize(request));

      app.get("/v1/appointments", async (request) => {
        const parsed = listQuery.safeParse(request.query);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new ApiError(422, "invalid_request", `${issue?.path.join(".")}: ${issue?.message}`);
        }
        const { status, updated_since, limit } = parsed.data;
        const since = updated_since ? Date.parse(updated_since) : Number.NEGATIVE_INFINITY;
        // Oldest change first, so a poller can resume from the last `updated_at` it saw.
        const matches = [...appointments.values()]
          .filter(
            (appointment) => (!status || appointment.status === status) && Date.parse(appointment.updated_at) >= since,
          )
          .sort((a, b) => a.updated_at.localeCompare(b.updated_at) || a.id.localeCompare(b.id));
        return { object: "list", data: matches.slice(0, limit), has_more: matches.length > limit };
      });

      app.get("/v1/appointments/:id", async (request) => {
        const id = (request.params as { id: string }).id;
        const appointment = appointments.get(id);
        if (!appointment) throw new ApiError(404, "not_found", `No appointment ${id}.`);
        return appointment;
      });

      app.post("/v1/appointments", async (request, reply) => reply.code(201).send(book(request.body)));

      app.post("/v1/appointments/:id/complete", async (request) => complete((request.params as { id: string }).id));
    },

    registerControlRoutes(app: FastifyInstance) {
      // No scope-wide error handler here: this scope also holds the sandbox's own state and faults routes.
      app.post("/appointments", async (request, reply) => {
        try {
          return reply.code(201).send(completeAppointment((request.body ?? {}) as AppointmentInput));
        } catch (error) {
          return answerError(error as Error, reply);
        }
      });
    },

    state: () => {
      const all = [...appointments.values()];
      return {
        appointments: all,
        booked: all.filter((appointment) => appointment.status === "booked").length,
        completed: all.filter((appointment) => appointment.status === "completed").length,
        webhooksSent,
      };
    },
    counts: () => ({ appointments: appointments.size }),
    credentials: () => ({ token, webhookSecret }),
    revokeCredentials: () => {
      revoked = true;
    },
    restoreCredentials: () => {
      revoked = false;
    },
  };
}

/**
 * Standard Webhooks' v1 signature: base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`, keyed by the
 * base64-decoded part of the secret after `whsec_`.
 */
export function standardWebhookSignature(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

function answerError(error: Error & { statusCode?: number }, reply: SandboxReply) {
  if (error instanceof ApiError) {
    if (error.status === 401) reply.header("www-authenticate", 'Bearer realm="scheduling"');
    return reply
      .code(error.status)
      .send({ error: { type: error.type, message: error.message, ...(error.param ? { param: error.param } : {}) } });
  }
  if (error.statusCode === 400) {
    return reply.code(400).send({ error: { type: "invalid_request", message: error.message } });
  }
  return reply.code(500).send({ error: { type: "internal_error", message: error.message } });
}

const firstNames = ["Ava", "Liam", "Maya", "Noah", "Zoe", "Omar", "Priya", "Lucas", "Hana", "Mateo", "Chloe", "Ethan"];
const lastNames = ["Nguyen", "Garcia", "Okafor", "Schmidt", "Rossi", "Kowalski", "Tanaka", "Silva", "Murphy", "Haddad"];
const services = [
  { service: "Haircut", price: "45.00", minutes: 45 },
  { service: "Beard trim", price: "25.00", minutes: 20 },
  { service: "Hair colouring", price: "120.00", minutes: 90 },
  { service: "Deep-tissue massage (60 min)", price: "95.00", minutes: 60 },
  { service: "Manicure", price: "35.00", minutes: 40 },
  { service: "Dental cleaning", price: "150.00", minutes: 30 },
];

function pick<T>(items: readonly T[]): T {
  return items[randomInt(items.length)] as T;
}

/** A realistic booking that ended a moment ago: a random customer (example.com email, fictional 555-01xx number) and service. */
function randomBooking(input: AppointmentInput, now: number) {
  const first = pick(firstNames);
  const last = pick(lastNames);
  const offered = pick(services);
  const endsAt = input.ends_at ?? new Date(Math.floor(now / 60_000) * 60_000).toISOString();
  const startsAt = input.starts_at ?? new Date(Date.parse(endsAt) - offered.minutes * 60_000).toISOString();
  return {
    customer: {
      name: input.customer?.name ?? `${first} ${last}`,
      email: input.customer?.email ?? `${first}.${last}.${randomBytes(3).toString("hex")}@example.com`.toLowerCase(),
      phone:
        input.customer?.phone ??
        `+1${pick(["212", "312", "415", "617", "720"])}55501${randomInt(100).toString().padStart(2, "0")}`,
    },
    service: input.service ?? offered.service,
    price: input.price ?? offered.price,
    currency: input.currency ?? "USD",
    starts_at: startsAt,
    ends_at: endsAt,
  };
}
