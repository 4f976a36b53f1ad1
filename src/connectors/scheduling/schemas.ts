import { z } from "zod";

/** An appointment, as the v1 API answers it and as the `appointment.completed` webhook carries it. */
export const appointmentSchema = z.looseObject({
  id: z.string(),
  status: z.enum(["booked", "completed", "cancelled"]),
  customer: z.looseObject({
    name: z.string(),
    email: z.string(),
    /** E.164. */
    phone: z.string(),
  }),
  service: z.string(),
  /** Decimal string ("45.00"): money never goes through a float on the wire. */
  price: z.string(),
  /** ISO 4217. */
  currency: z.string(),
  starts_at: z.string(),
  ends_at: z.string(),
  completed_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export type Appointment = z.output<typeof appointmentSchema>;

/** The `appointment.completed` webhook's body (Standard Webhooks: `type`, `timestamp`, `data`). */
export const appointmentCompletedEventSchema = z.looseObject({
  type: z.literal("appointment.completed"),
  /** ISO 8601: when it happened (the delivery's own time is the `webhook-timestamp` header). */
  timestamp: z.string(),
  data: appointmentSchema,
});

export type AppointmentCompletedEvent = z.output<typeof appointmentCompletedEventSchema>;

export const getAppointmentInput = z.object({ id: z.string().min(1) });

export const listAppointmentsInput = z.object({
  status: z.enum(["booked", "completed", "cancelled"]).optional(),
  /** ISO 8601; appointments changed at or after it, oldest change first. */
  updatedSince: z.iso.datetime({ offset: true }).optional(),
  /** 1–500, default 100. */
  limit: z.number().int().min(1).max(500).optional(),
});

export const appointmentListSchema = z.looseObject({
  data: z.array(appointmentSchema),
  has_more: z.boolean(),
});

export type AppointmentList = z.output<typeof appointmentListSchema>;
