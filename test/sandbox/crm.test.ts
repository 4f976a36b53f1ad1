import { afterEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { type CrmOptions, type CrmSystem, createCrm } from "../../src/sandbox/systems/crm.ts";

let clock = Date.parse("2025-06-01T12:00:00Z");
let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A CRM on a sandbox clock, and an API caller holding an access token obtained as HubSpot documents. */
async function startCrm(options: CrmOptions = {}) {
  sandbox = createSandbox({ systems: { crm: (context) => createCrm(context, options) }, now: () => clock });
  await sandbox.listen();
  const base = sandbox.baseUrl("crm");
  const { clientId, clientSecret, refreshToken } = sandbox.credentials("crm") as Record<string, string>;
  const tokenAnswer = await fetch(`${base}/oauth/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "refresh_token",
      client_id: clientId ?? "",
      client_secret: clientSecret ?? "",
      refresh_token: refreshToken ?? "",
    }),
  });
  const tokens = (await tokenAnswer.json()) as Record<string, unknown>;
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    accessToken = tokens.access_token,
  ): Promise<Answer> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${String(accessToken)}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
  };
  return { call, tokens, crm: sandbox.system<CrmSystem>("crm") };
}

const upsert = (email: string, properties: Record<string, string> = {}) => ({
  inputs: [{ idProperty: "email", id: email, properties }],
});

describe("the HubSpot-like CRM", () => {
  it("issues 30-minute access tokens that do not rotate the refresh token", async () => {
    const { tokens } = await startCrm();
    expect(tokens).toMatchObject({ token_type: "bearer", expires_in: 1800 });
    expect(tokens.refresh_token).toBe(sandbox?.credentials("crm").refreshToken);
  });

  it("upserts contacts by email, case-insensitively, in HubSpot's object format", async () => {
    const { call } = await startCrm();
    const created = await call(
      "POST",
      "/crm/v3/objects/contacts/batch/upsert",
      upsert("Ada@Example.com", { firstname: "Ada" }),
    );
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ status: "COMPLETE", results: [{ new: true, archived: false }] });
    const [contact] = created.body.results as Array<{ id: string; properties: Record<string, string> }>;
    expect(contact?.properties).toMatchObject({
      email: "ada@example.com",
      firstname: "Ada",
      hs_object_id: contact?.id,
      createdate: "2025-06-01T12:00:00.000Z",
      lastmodifieddate: "2025-06-01T12:00:00.000Z",
    });

    const updated = await call(
      "POST",
      "/crm/v3/objects/contacts/batch/upsert",
      upsert("ada@EXAMPLE.com", { lastname: "Lovelace" }),
    );
    expect(updated.body).toMatchObject({ results: [{ id: contact?.id, new: false }] });
    const state = sandbox?.system<CrmSystem>("crm").state();
    expect(Object.keys(state?.contacts ?? {})).toEqual(["ada@example.com"]);
    expect(state?.contacts["ada@example.com"]?.properties).toMatchObject({ firstname: "Ada", lastname: "Lovelace" });
  });

  it("refuses a second contact with the same email with HubSpot's 409 CONFLICT", async () => {
    const { call } = await startCrm();
    const first = await call("POST", "/crm/v3/objects/contacts", { properties: { email: "grace@example.com" } });
    expect(first.status).toBe(201);
    const second = await call("POST", "/crm/v3/objects/contacts", { properties: { email: "Grace@example.com" } });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({
      status: "error",
      message: `Contact already exists. Existing ID: ${(first.body as { id: string }).id}`,
      correlationId: expect.any(String),
      category: "CONFLICT",
    });
  });

  it("reads a contact by id or by email, returns the default properties plus those asked for, and updates it", async () => {
    const { call } = await startCrm();
    const created = await call("POST", "/crm/v3/objects/contacts", {
      properties: { email: "alan@example.com", firstname: "Alan", phone: "+44 20 1234" },
    });
    const id = (created.body as { id: string }).id;
    const byEmail = await call("GET", "/crm/v3/objects/contacts/alan%40example.com?idProperty=email&properties=phone");
    expect(byEmail.body).toEqual({
      id,
      properties: {
        createdate: expect.any(String),
        email: "alan@example.com",
        firstname: "Alan",
        hs_object_id: id,
        lastmodifieddate: expect.any(String),
        lastname: null,
        phone: "+44 20 1234",
      },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      archived: false,
    });
    clock += 1000;
    const patched = await call("PATCH", `/crm/v3/objects/contacts/${id}`, { properties: { lastname: "Turing" } });
    expect(patched.body).toMatchObject({ properties: { lastname: "Turing" }, updatedAt: "2025-06-01T12:00:01.000Z" });
    expect((await call("GET", "/crm/v3/objects/contacts/999999")).body).toMatchObject({
      status: "error",
      category: "OBJECT_NOT_FOUND",
    });
  });

  it("refuses properties the portal does not have, as HubSpot does", async () => {
    const { call } = await startCrm();
    const answer = await call("POST", "/crm/v3/objects/contacts", {
      properties: { email: "x@example.com", favourite_colour: "teal" },
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ status: "error", category: "VALIDATION_ERROR" });
    expect(answer.body.message).toContain("PROPERTY_DOESNT_EXIST");
  });

  it("creates deals and notes associated with a contact and finds them with search filters", async () => {
    const { call } = await startCrm();
    const contact = await call("POST", "/crm/v3/objects/contacts", { properties: { email: "mary@example.com" } });
    const contactId = (contact.body as { id: string }).id;
    const deal = await call("POST", "/crm/v3/objects/deals", {
      properties: { dealname: "Order 1001", amount: "120.50", dealstage: "closedwon", tenon_reference: "order-1001" },
      associations: [
        { to: { id: contactId }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: 3 }] },
      ],
    });
    expect(deal.status).toBe(201);
    expect(deal.body).toMatchObject({ properties: { pipeline: "default", amount: "120.50" } });

    const note = await call("POST", "/crm/v3/objects/notes", {
      properties: { hs_note_body: "Appointment completed: knee check", hs_timestamp: "2025-06-01T11:00:00Z" },
      associations: [
        { to: { id: contactId }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: 202 }] },
      ],
    });
    const noteId = (note.body as { id: string }).id;
    const read = await call("GET", `/crm/v3/objects/notes/${noteId}?associations=contacts&properties=hs_note_body`);
    expect(read.body).toMatchObject({
      properties: { hs_note_body: "Appointment completed: knee check" },
      associations: { contacts: { results: [{ id: contactId, type: "note_to_contact" }] } },
    });

    const byReference = await call("POST", "/crm/v3/objects/deals/search", {
      filterGroups: [{ filters: [{ propertyName: "tenon_reference", operator: "EQ", value: "order-1001" }] }],
      properties: ["tenon_reference"],
    });
    expect(byReference.body).toMatchObject({ total: 1, results: [{ properties: { tenon_reference: "order-1001" } }] });
    const byToken = await call("POST", "/crm/v3/objects/notes/search", {
      filterGroups: [{ filters: [{ propertyName: "hs_note_body", operator: "CONTAINS_TOKEN", value: "knee" }] }],
    });
    expect(byToken.body).toMatchObject({ total: 1, results: [{ id: noteId }] });
    const none = await call("POST", "/crm/v3/objects/notes/search", {
      filterGroups: [{ filters: [{ propertyName: "hs_note_body", operator: "CONTAINS_TOKEN", value: "elbow" }] }],
    });
    expect(none.body).toEqual({ total: 0, results: [] });
  });

  it("refuses a note without hs_timestamp or with a wrong association type", async () => {
    const { call } = await startCrm();
    const contact = await call("POST", "/crm/v3/objects/contacts", { properties: { email: "n@example.com" } });
    const contactId = (contact.body as { id: string }).id;
    expect((await call("POST", "/crm/v3/objects/notes", { properties: { hs_note_body: "x" } })).status).toBe(400);
    const wrongType = await call("POST", "/crm/v3/objects/notes", {
      properties: { hs_note_body: "x", hs_timestamp: "2025-06-01T11:00:00Z" },
      associations: [
        { to: { id: contactId }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: 3 }] },
      ],
    });
    expect(wrongType).toMatchObject({ status: 400, body: { category: "VALIDATION_ERROR" } });
  });

  it("answers 401 INVALID_AUTHENTICATION without a valid token and EXPIRED_AUTHENTICATION after 30 minutes", async () => {
    const { call } = await startCrm();
    const unknown = await call("GET", "/crm/v3/objects/contacts/1", undefined, "not-a-token");
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual({
      status: "error",
      message: expect.stringMatching(/^Authentication credentials not found/),
      correlationId: expect.any(String),
      category: "INVALID_AUTHENTICATION",
    });
    clock += 31 * 60_000;
    const expired = await call("GET", "/crm/v3/objects/contacts/1");
    expect(expired).toMatchObject({
      status: 401,
      body: {
        category: "EXPIRED_AUTHENTICATION",
        message: "The OAuth token used to make this call expired 1 minute(s) ago.",
      },
    });
  });

  it("counts requests per app in a rolling 10 s window with X-HubSpot-RateLimit-* headers, then answers 429", async () => {
    const { call, crm } = await startCrm({ rateLimit: { max: 2, intervalMs: 10_000 } });
    const first = await call("POST", "/crm/v3/objects/contacts/search", {});
    expect(Object.fromEntries([...first.headers].filter(([name]) => name.startsWith("x-hubspot-ratelimit")))).toEqual({
      "x-hubspot-ratelimit-max": "2",
      "x-hubspot-ratelimit-remaining": "1",
      "x-hubspot-ratelimit-interval-milliseconds": "10000",
      "x-hubspot-ratelimit-daily": "250000",
      "x-hubspot-ratelimit-daily-remaining": "249999",
    });
    await call("POST", "/crm/v3/objects/contacts/search", {});
    const refused = await call("POST", "/crm/v3/objects/contacts/search", {});
    expect(refused.status).toBe(429);
    expect(refused.headers.get("x-hubspot-ratelimit-remaining")).toBe("0");
    expect(refused.body).toEqual({
      status: "error",
      message: "You have reached your ten_secondly_rolling limit.",
      errorType: "RATE_LIMIT",
      correlationId: expect.any(String),
      policyName: "TEN_SECONDLY_ROLLING",
    });
    clock += 10_001;
    expect((await call("POST", "/crm/v3/objects/contacts/search", {})).status).toBe(200);
    expect(crm.state()).toMatchObject({ counts: { rateLimited: 1 } });
  });

  it("expects the client credentials in the token request's body, as HubSpot does", async () => {
    const { crm } = await startCrm();
    const { clientId, clientSecret, refreshToken } = crm.credentials();
    const response = await fetch(`${sandbox?.baseUrl("crm")}/oauth/v1/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
      },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken ?? "" }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: "invalid_client", status: "BAD_CLIENT_ID" });
  });

  it("stops every token on revoke; authorize() gives a working refresh token again", async () => {
    const { call, crm } = await startCrm();
    crm.revokeCredentials();
    crm.restoreCredentials();
    expect((await call("POST", "/crm/v3/objects/contacts/search", {})).status).toBe(401);
    const { refreshToken } = crm.authorize();
    expect(crm.credentials().refreshToken).toBe(refreshToken);
  });
});
