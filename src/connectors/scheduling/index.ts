import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import { defineConnector, defineOperation } from "../define-connector.ts";
import { appointmentListSchema, appointmentSchema, getAppointmentInput, listAppointmentsInput } from "./schemas.ts";

export * from "./schemas.ts";

export interface SchedulingOptions {
  /** Where the v1 API lives (the sandbox's `<url>/scheduling`, or the real system's). */
  baseUrl: string;
  /** `{ token }`: the API key. */
  credentials?: ConnectionCredentials;
}

/**
 * The scheduling system's appointments API "v1" (documented in this folder's README): bearer API
 * key, JSON, and the `appointment.completed` webhook signed per Standard Webhooks.
 */
export const scheduling = defineConnector({
  id: "scheduling",
  title: "Scheduling (appointments API v1)",
  apiVersion: "v1",
  connection: (options: SchedulingOptions) => ({
    baseUrl: options.baseUrl,
    auth: { type: "bearer" },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    headers: { Accept: "application/json" },
    // The API writes nothing a retry could repeat except completing, which is itself idempotent.
    idempotencyHeader: false,
  }),
  webhooks: { provider: "standard-webhooks", dedupKey: "webhook-id" },
  operations: {
    getAppointment: defineOperation({
      description: "Reads one appointment by id",
      input: getAppointmentInput,
      output: appointmentSchema,
      idempotency: "read",
      async call(client, input) {
        return (await client.get(`/v1/appointments/${encodeURIComponent(input.id)}`)).body;
      },
    }),
    listAppointments: defineOperation({
      description: "Lists appointments by status and last change, oldest change first",
      input: listAppointmentsInput,
      output: appointmentListSchema,
      idempotency: "read",
      async call(client, input) {
        const query = { status: input.status, updated_since: input.updatedSince, limit: input.limit };
        return (await client.get("/v1/appointments", { query })).body;
      },
    }),
  },
});
