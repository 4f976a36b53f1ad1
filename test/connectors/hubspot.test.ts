import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { hubspot } from "../../src/connectors/hubspot/index.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { type CrmOptions, type CrmSystem, createCrm } from "../../src/sandbox/systems/crm.ts";
import { AuthError, RateLimitedError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections } from "../support/sandbox.ts";

/** The sandbox's fault dice, rolled in order (then "no fault"): decides which request an injected 5xx hits. */
const rolls: number[] = [];
/** How far the sandbox's clock runs ahead of Tenon's (to expire tokens without waiting). */
let sandboxAheadMs = 0;

interface Setup {
  sandbox: Sandbox;
  connections: SandboxConnections;
  crm: CrmSystem;
  client: ReturnType<typeof hubspot.client>;
}

async function setUp(options: CrmOptions = {}): Promise<Setup> {
  const sandbox = createSandbox({
    systems: { crm: (context) => createCrm(context, options) },
    now: () => Date.now() + sandboxAheadMs,
    random: () => rolls.shift() ?? 0.99,
  });
  await sandbox.listen();
  const base = sandbox.baseUrl("crm");
  const connections = await connectToSandbox({
    crm: hubspot.connection({
      baseUrl: base,
      tokenUrl: `${base}/oauth/v1/token`,
      authorizationUrl: `${base}/oauth/authorize`,
      credentials: sandbox.credentials("crm"),
    }),
  });
  return {
    sandbox,
    connections,
    crm: sandbox.system<CrmSystem>("crm"),
    client: hubspot.client(connections.client("crm")),
  };
}

let setup: Setup;
beforeAll(async () => {
  setup = await setUp();
});
beforeEach(() => {
  rolls.length = 0;
  setup.sandbox.setFaults("crm", { errorRate: null, errorTiming: null, schemaChange: null });
});
afterAll(async () => {
  await setup.connections.close();
  await setup.sandbox.close();
});

const requestsSince = (count: number) => setup.sandbox.requests("crm").slice(count);
const crmState = () => setup.crm.state();

async function contactId(email: string): Promise<string> {
  return (await setup.client.upsertContact({ email })).id;
}

describe("hubspot connector", () => {
  it("connects like HubSpot: OAuth with client credentials in the body, 100 requests per 10 s, no idempotency header", () => {
    expect(hubspot.connection({})).toMatchObject({
      baseUrl: "https://api.hubapi.com",
      auth: {
        type: "oauth2",
        grant: "authorization_code",
        tokenUrl: "https://api.hubapi.com/oauth/v1/token",
        authorizationUrl: "https://app.hubspot.com/oauth/authorize",
        clientAuth: "post",
      },
      rateLimit: "100 per 10s",
      idempotencyHeader: false,
    });
  });

  it("refreshes its token as HubSpot documents (client credentials in the form body), then upserts by email", async () => {
    const { refreshToken, clientId, clientSecret } = setup.sandbox.credentials("crm");
    const contact = await setup.client.upsertContact({
      email: "ada@example.com",
      firstname: "Ada",
      lastname: "Lovelace",
      properties: { company: "Analytical Engines" },
    });
    expect(contact).toEqual({
      id: expect.any(String),
      email: "ada@example.com",
      properties: expect.objectContaining({ firstname: "Ada", lastname: "Lovelace", company: "Analytical Engines" }),
    });

    const [token, upsert] = requestsSince(0);
    expect(token).toMatchObject({
      method: "POST",
      path: "/oauth/v1/token",
      headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8" },
    });
    expect(token?.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(token?.body))).toEqual({
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: clientId,
      client_secret: clientSecret,
    });
    expect(upsert).toMatchObject({
      method: "POST",
      path: "/crm/v3/objects/contacts/batch/upsert",
      headers: { authorization: expect.stringMatching(/^Bearer C\S+$/), "content-type": "application/json" },
    });
    // HubSpot honours no idempotency header: none is sent.
    expect(upsert?.headers["idempotency-key"]).toBeUndefined();
    expect(JSON.parse(upsert?.body ?? "")).toEqual({
      inputs: [
        {
          idProperty: "email",
          id: "ada@example.com",
          properties: { company: "Analytical Engines", firstname: "Ada", lastname: "Lovelace" },
        },
      ],
    });
  });

  it("upserting the same email again (any case) updates the one contact", async () => {
    const first = await setup.client.upsertContact({ email: "grace@example.com", firstname: "Grace" });
    const again = await setup.client.upsertContact({ email: "Grace@Example.com", lastname: "Hopper" });
    expect(again.id).toBe(first.id);
    expect(Object.keys(crmState().contacts).filter((email) => email.startsWith("grace"))).toEqual([
      "grace@example.com",
    ]);
  });

  it("finds a contact by email with GET …/contacts/{email}?idProperty=email, and null when there is none", async () => {
    await setup.client.upsertContact({ email: "alan@example.com", phone: "+44 20 7946 0000" });
    const before = setup.sandbox.requests("crm").length;
    const found = await setup.client.findContactByEmail({ email: "alan@example.com" });
    expect(found).toMatchObject({ email: "alan@example.com", properties: { phone: "+44 20 7946 0000" } });
    expect(requestsSince(before)[0]).toMatchObject({
      method: "GET",
      path: "/crm/v3/objects/contacts/alan%40example.com",
      query: { idProperty: "email", properties: "email,firstname,lastname,phone" },
      headers: { authorization: expect.stringMatching(/^Bearer /), accept: "application/json" },
    });
    expect(await setup.client.findContactByEmail({ email: "nobody@example.com" })).toBeNull();
  });

  it("creates a deal once per reference: a retried step finds the deal it made (check-then-act)", async () => {
    const contact = await contactId("deal-buyer@example.com");
    const before = setup.sandbox.requests("crm").length;
    const input = { dealname: "Order #1001", amount: 120.5, dealstage: "closedwon", contactId: contact };
    const first = await setup.connections.inStep(() => setup.client.createDeal(input), { key: "run-1:deal" });
    const retried = await setup.connections.inStep(() => setup.client.createDeal(input), { key: "run-1:deal" });
    expect(first).toEqual({ id: expect.any(String), created: true });
    expect(retried).toEqual({ id: first.id, created: false });

    const [search, create] = requestsSince(before);
    expect(search).toMatchObject({ method: "POST", path: "/crm/v3/objects/deals/search" });
    expect(JSON.parse(search?.body ?? "")).toEqual({
      filterGroups: [{ filters: [{ propertyName: "tenon_reference", operator: "EQ", value: "run-1:deal" }] }],
      properties: ["tenon_reference"],
      limit: 10,
    });
    expect(create).toMatchObject({ method: "POST", path: "/crm/v3/objects/deals" });
    expect(JSON.parse(create?.body ?? "")).toEqual({
      properties: {
        dealname: "Order #1001",
        amount: "120.5",
        dealstage: "closedwon",
        pipeline: "default",
        tenon_reference: "run-1:deal",
      },
      associations: [
        { to: { id: contact }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: 3 }] },
      ],
    });
    expect(crmState().deals.filter((deal) => deal.properties.tenon_reference === "run-1:deal")).toHaveLength(1);
  });

  it("a deal whose create answer was lost (5xx after processing) is found by the retry, not made twice", async () => {
    setup.sandbox.setFaults("crm", { errorRate: 0.5, errorTiming: "after" });
    // The search rolls "no fault"; the create rolls a fault (then its status): processed, answer replaced by a 500.
    rolls.push(0.99, 0, 0);
    const input = { dealname: "Order #1002", amount: 80, reference: "order-1002" };
    await expect(setup.connections.inStep(() => setup.client.createDeal(input), { key: "run-2:deal" })).rejects.toThrow(
      /answered 500/,
    );
    const retried = await setup.connections.inStep(() => setup.client.createDeal(input), { key: "run-2:deal" });
    expect(retried.created).toBe(false);
    expect(crmState().deals.filter((deal) => deal.properties.tenon_reference === "order-1002")).toHaveLength(1);
    expect(crmState().counts.duplicateDealReferences).toBe(0);
  });

  it("adds a timeline note associated with the contact (type 202), once per reference", async () => {
    const contact = await contactId("patient@example.com");
    const before = setup.sandbox.requests("crm").length;
    const input = { contactId: contact, body: "Appointment completed", timestamp: "2025-06-01T10:00:00.000Z" };
    const first = await setup.connections.inStep(() => setup.client.addNote(input), { key: "appt-7:note" });
    const retried = await setup.connections.inStep(() => setup.client.addNote(input), { key: "appt-7:note" });
    expect(retried).toEqual({ id: first.id, created: false });
    const create = requestsSince(before).find((request) => request.path === "/crm/v3/objects/notes");
    expect(JSON.parse(create?.body ?? "")).toEqual({
      properties: {
        hs_note_body: "Appointment completed",
        hs_timestamp: "2025-06-01T10:00:00.000Z",
        tenon_reference: "appt-7:note",
      },
      associations: [
        { to: { id: contact }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: 202 }] },
      ],
    });
    expect(crmState().notes.filter((note) => note.contactIds.includes(contact))).toHaveLength(1);
  });

  it("a search answer of another shape fails the step instead of creating a duplicate", async () => {
    setup.sandbox.setFaults("crm", { schemaChange: { field: "results", action: "rename", to: "items" } });
    const dealsBefore = crmState().deals.length;
    const attempt = setup.connections.inStep(() =>
      setup.client.createDeal({ dealname: "X", amount: 1, reference: "shape-1" }),
    );
    await expect(attempt).rejects.toThrow(ResponseShapeError);
    await expect(attempt).rejects.toThrow(/results: /);
    expect(crmState().deals).toHaveLength(dealsBefore);
  });

  it("an access token HubSpot calls expired (401 EXPIRED_AUTHENTICATION) is refreshed and the request repeated", async () => {
    await setup.client.findContactByEmail({ email: "ada@example.com" });
    const refreshesBefore = crmState().oauth.refreshes;
    const before = setup.sandbox.requests("crm").length;
    sandboxAheadMs += 31 * 60_000;
    expect(await setup.client.findContactByEmail({ email: "ada@example.com" })).not.toBeNull();
    expect(
      requestsSince(before).map((request) => `${request.method} ${request.path.split("/").slice(0, 4).join("/")}`),
    ).toEqual(["GET /crm/v3/objects", "POST /oauth/v1/token", "GET /crm/v3/objects"]);
    expect(crmState().oauth.refreshes).toBe(refreshesBefore + 1);
  });

  it("revoked tokens make the connection auth_failed; a new authorisation stored with setCredentials restores it", async () => {
    setup.sandbox.setFaults("crm", { revokeCredentials: true });
    await expect(setup.client.findContactByEmail({ email: "ada@example.com" })).rejects.toThrow(AuthError);
    expect(await setup.connections.connections.describe("crm")).toMatchObject({ status: "auth_failed" });

    await setup.connections.connections.setCredentials("crm", setup.crm.authorize());
    expect(await setup.client.findContactByEmail({ email: "ada@example.com" })).not.toBeNull();
    expect(await setup.connections.connections.describe("crm")).toMatchObject({ status: "active" });
  });
});

describe("hubspot connector under HubSpot's rate limit", () => {
  it("a 429 from HubSpot makes the run wait for the window (RateLimitedError), using no attempt", async () => {
    const limited = await setUp({ rateLimit: { max: 2, intervalMs: 10_000 } });
    try {
      // Another process of the same app spends the window.
      const { clientId = "", clientSecret = "", refreshToken = "" } = limited.sandbox.credentials("crm");
      const base = limited.sandbox.baseUrl("crm");
      const tokens = (await (
        await fetch(`${base}/oauth/v1/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "refresh_token",
            refresh_token: refreshToken,
            client_id: clientId,
            client_secret: clientSecret,
          }),
        })
      ).json()) as { access_token: string };
      for (let i = 0; i < 2; i++) {
        await fetch(`${base}/crm/v3/objects/contacts/1`, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        });
      }

      const startedAt = Date.now();
      const refused = await limited.client
        .findContactByEmail({ email: "a@example.com" })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RateLimitedError);
      // HubSpot sends no Retry-After: the interval header bounds the wait.
      expect((refused as RateLimitedError).retryAt).toBeGreaterThanOrEqual(startedAt + 9_000);
      expect(limited.crm.state()).toMatchObject({ counts: { rateLimited: 1 } });
    } finally {
      await limited.connections.close();
      await limited.sandbox.close();
    }
  });
});
