import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { appointmentCompletedEventSchema, scheduling } from "../../src/connectors/scheduling/index.ts";
import { builtInProviders } from "../../src/ingestion/webhooks/providers/index.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createScheduling, type SchedulingSystem } from "../../src/sandbox/systems/scheduling.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections, startTestSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

let sandbox: Sandbox;
let system: SchedulingSystem;
let receiver: WebhookReceiver;
let connections: SandboxConnections;
let appointments: ReturnType<typeof scheduling.client>;

beforeAll(async () => {
  receiver = new WebhookReceiver();
  await receiver.start();
  sandbox = await startTestSandbox(
    { scheduling: (context) => createScheduling(context) },
    { webhookUrls: { scheduling: `${receiver.origin}/hooks/scheduling` } },
  );
  system = sandbox.system<SchedulingSystem>("scheduling");
  const { token } = sandbox.credentials("scheduling");
  connections = await connectToSandbox({
    scheduling: scheduling.connection({ baseUrl: sandbox.baseUrl("scheduling"), credentials: { token: token ?? "" } }),
  });
  appointments = scheduling.client(connections.client("scheduling"));
});

beforeEach(() => {
  sandbox.setFaults("scheduling", { schemaChange: null });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
  await receiver.close();
});

describe("scheduling connector", () => {
  it("reads an appointment with GET /v1/appointments/{id} and the API key as a bearer token", async () => {
    const completed = system.completeAppointment({ service: "Haircut", price: "45.00" });
    const before = sandbox.requests("scheduling").length;
    const appointment = await appointments.getAppointment({ id: completed.id });
    expect(appointment).toMatchObject({ id: completed.id, status: "completed", service: "Haircut", price: "45.00" });
    expect(sandbox.requests("scheduling").slice(before)[0]).toMatchObject({
      method: "GET",
      path: `/v1/appointments/${completed.id}`,
      headers: { authorization: `Bearer ${sandbox.credentials("scheduling").token}`, accept: "application/json" },
    });
  });

  it("lists appointments by status and last change, with the API's snake_case query", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const done = system.completeAppointment();
    const before = sandbox.requests("scheduling").length;
    const list = await appointments.listAppointments({ status: "completed", updatedSince: since, limit: 50 });
    expect(list.data.map((appointment) => appointment.id)).toContain(done.id);
    expect(list.has_more).toBe(false);
    expect(sandbox.requests("scheduling").slice(before)[0]).toMatchObject({
      method: "GET",
      path: "/v1/appointments",
      query: { status: "completed", updated_since: since, limit: "50" },
    });
  });

  it("an unknown appointment fails without retry, carrying the 404", async () => {
    const missing = appointments.getAppointment({ id: "apt_missing" });
    await expect(missing).rejects.toBeInstanceOf(NonRetryableError);
    await expect(missing).rejects.toMatchObject({ response: { status: 404 } });
  });

  it("an answer whose shape changed fails with ResponseShapeError naming the field", async () => {
    const { id } = system.completeAppointment();
    sandbox.setFaults("scheduling", { schemaChange: { field: "price", action: "retype" } });
    const read = appointments.getAppointment({ id });
    await expect(read).rejects.toBeInstanceOf(ResponseShapeError);
    await expect(read).rejects.toThrow(/price/);
  });

  it("the appointment.completed webhook verifies with the connector's provider and parses with its schema", async () => {
    const { id } = system.completeAppointment();
    const delivery = await waitFor("the webhook", () =>
      receiver.received.find((request) => JSON.parse(request.body).data.id === id),
    );
    const provider = builtInProviders[scheduling.webhooks?.provider ?? ""];
    const request = {
      method: "POST",
      url: delivery.url,
      headers: delivery.headers,
      rawBody: Buffer.from(delivery.body),
    };
    const secret = sandbox.credentials("scheduling").webhookSecret ?? "";
    expect(provider?.verify(request, { secrets: [secret], now: Date.now() })).toEqual({ ok: true });
    const [event] = provider?.parse(request).events ?? [];
    expect(event?.dedupKey).toBe(delivery.headers["webhook-id"]);
    const parsed = appointmentCompletedEventSchema.parse(event?.payload);
    expect(parsed.data).toMatchObject({ id, status: "completed", customer: { email: expect.any(String) } });
  });

  it("declares bearer auth, no idempotency header and Standard Webhooks deduplicated by webhook-id", () => {
    expect(scheduling.connection({ baseUrl: "https://scheduling.example/api" })).toMatchObject({
      baseUrl: "https://scheduling.example/api",
      auth: { type: "bearer" },
      idempotencyHeader: false,
    });
    expect(scheduling.webhooks).toEqual({ provider: "standard-webhooks", dedupKey: "webhook-id" });
  });
});
