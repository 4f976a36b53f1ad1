import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import type { ConnectionClient } from "../../sdk/connection-client.ts";
import { NonRetryableError } from "../../sdk/errors.ts";
import { checkAnswer, defineConnector, defineOperation } from "../define-connector.ts";
import {
  addNoteInput,
  batchUpsertAnswer,
  type Created,
  contactOutput,
  createDealInput,
  createdOutput,
  crmObject,
  findContactByEmailInput,
  type HubSpotContact,
  referenceProperty,
  searchAnswer,
  upsertContactInput,
} from "./schemas.ts";

export * from "./schemas.ts";

export interface HubSpotOptions {
  /** Default https://api.hubapi.com; for the sandbox, `sandbox.baseUrl("crm")`. */
  baseUrl?: string;
  /** Default https://api.hubapi.com/oauth/v1/token; for the sandbox, `${sandbox.baseUrl("crm")}/oauth/v1/token`. */
  tokenUrl?: string;
  /** Default https://app.hubspot.com/oauth/authorize; for the sandbox, `${sandbox.baseUrl("crm")}/oauth/authorize`. */
  authorizationUrl?: string;
  /** `{ clientId, clientSecret }` of the app, and a `refreshToken` if already authorised. */
  credentials?: ConnectionCredentials;
  /** Default: read and write contacts and deals (notes need the contacts scopes). */
  scopes?: string[];
}

/** HUBSPOT_DEFINED association type ids (https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide). */
const dealToContact = 3;
const noteToContact = 202;
const contactProperties = ["email", "firstname", "lastname", "phone"];

/**
 * HubSpot CRM (API v3). Contacts are upserted by email (a natural upsert); deals and notes have no
 * idempotency key, so their operations store a reference in the `tenon_reference` property and
 * search for it before creating (check-then-act).
 */
export const hubspot = defineConnector({
  id: "hubspot",
  title: "HubSpot CRM",
  apiVersion: "CRM API v3 (objects, search; association type ids of the v4 associations API)",
  connection: (options: HubSpotOptions) => ({
    baseUrl: options.baseUrl ?? "https://api.hubapi.com",
    auth: {
      type: "oauth2",
      grant: "authorization_code",
      tokenUrl: options.tokenUrl ?? "https://api.hubapi.com/oauth/v1/token",
      authorizationUrl: options.authorizationUrl ?? "https://app.hubspot.com/oauth/authorize",
      // HubSpot takes client_id and client_secret in the token request's form body.
      clientAuth: "post",
      scopes: options.scopes ?? [
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.objects.deals.read",
        "crm.objects.deals.write",
      ],
    },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    headers: { Accept: "application/json" },
    // Per app and account: 100 requests per rolling 10 s (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines).
    rateLimit: "100 per 10s",
    idempotencyHeader: false,
  }),
  webhooks: { provider: "hubspot", dedupKey: "eventId" },
  operations: {
    upsertContact: defineOperation({
      description: "Creates the contact with this email, or updates it if it exists",
      input: upsertContactInput,
      output: contactOutput,
      idempotency: "natural",
      async call(client, input): Promise<HubSpotContact> {
        const properties: Record<string, string> = { ...input.properties };
        if (input.firstname !== undefined) properties.firstname = input.firstname;
        if (input.lastname !== undefined) properties.lastname = input.lastname;
        if (input.phone !== undefined) properties.phone = input.phone;
        const request = "POST /crm/v3/objects/contacts/batch/upsert";
        const response = await client.post("/crm/v3/objects/contacts/batch/upsert", {
          json: { inputs: [{ idProperty: "email", id: input.email, properties }] },
        });
        if (response.status === 207) {
          throw new NonRetryableError(
            `hubspot.upsertContact: ${request} partly failed: ${response.text.slice(0, 500)}`,
          );
        }
        const [contact] = checkAnswer(batchUpsertAnswer, response.body, `hubspot.upsertContact (${request})`).results;
        return toContact(contact as NonNullable<typeof contact>, input.email);
      },
    }),
    findContactByEmail: defineOperation({
      description: "The contact with this email, or null",
      input: findContactByEmailInput,
      output: contactOutput.nullable(),
      idempotency: "read",
      async call(client, input): Promise<HubSpotContact | null> {
        try {
          const response = await client.get(`/crm/v3/objects/contacts/${encodeURIComponent(input.email)}`, {
            query: { idProperty: "email", properties: contactProperties.join(",") },
          });
          const contact = checkAnswer(
            crmObject,
            response.body,
            "hubspot.findContactByEmail (GET /crm/v3/objects/contacts/{email})",
          );
          return toContact(contact, input.email);
        } catch (error) {
          if (error instanceof NonRetryableError && error.response?.status === 404) return null;
          throw error;
        }
      },
    }),
    createDeal: defineOperation({
      description: "Creates a deal (associated with a contact), unless one with the same reference exists",
      input: createDealInput,
      output: createdOutput,
      idempotency: "check-then-act",
      call: (client, input, context) =>
        createUnlessReferenced(client, "deals", input.reference ?? context.stepKey, "createDeal", {
          properties: {
            dealname: input.dealname,
            amount: String(input.amount),
            dealstage: input.dealstage ?? "appointmentscheduled",
            pipeline: input.pipeline ?? "default",
          },
          associations: input.contactId !== undefined ? [associationTo(input.contactId, dealToContact)] : [],
        }),
    }),
    addNote: defineOperation({
      description: "Adds a note to a contact's timeline, unless one with the same reference exists",
      input: addNoteInput,
      output: createdOutput,
      idempotency: "check-then-act",
      call: (client, input, context) => {
        const timestamp = input.timestamp === undefined ? new Date() : new Date(input.timestamp);
        return createUnlessReferenced(client, "notes", input.reference ?? context.stepKey, "addNote", {
          properties: { hs_note_body: input.body, hs_timestamp: timestamp.toISOString() },
          associations: [associationTo(input.contactId, noteToContact)],
        });
      },
    }),
  },
});

function toContact(contact: { id: string; properties: Record<string, string | null> }, email: string): HubSpotContact {
  return { id: contact.id, email: contact.properties.email ?? email.toLowerCase(), properties: contact.properties };
}

function associationTo(contactId: string, associationTypeId: number) {
  return { to: { id: contactId }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId }] };
}

/**
 * Check-then-act for objects without an idempotency key: the object carrying `reference` if an earlier
 * attempt made it, else a new one that carries it (no reference, outside a step: simply created).
 */
async function createUnlessReferenced(
  client: ConnectionClient,
  type: "deals" | "notes",
  reference: string | undefined,
  operation: string,
  object: { properties: Record<string, string>; associations: ReturnType<typeof associationTo>[] },
): Promise<Created> {
  if (reference !== undefined) {
    const existing = await findByReference(client, type, reference, operation);
    if (existing) return { id: existing, created: false };
  }
  const request = `POST /crm/v3/objects/${type}`;
  const response = await client.post(`/crm/v3/objects/${type}`, {
    json: {
      properties: { ...object.properties, ...(reference !== undefined ? { [referenceProperty]: reference } : {}) },
      ...(object.associations.length > 0 ? { associations: object.associations } : {}),
    },
  });
  return { id: checkAnswer(crmObject, response.body, `hubspot.${operation} (${request})`).id, created: true };
}

/**
 * The id of the object of this type carrying `reference`, or undefined. HubSpot's search index lags
 * writes by a few seconds, so a retry moments after a lost answer may still miss it (see the README).
 */
async function findByReference(
  client: ConnectionClient,
  type: "deals" | "notes",
  reference: string,
  where: string,
): Promise<string | undefined> {
  const request = `POST /crm/v3/objects/${type}/search`;
  const response = await client.post(`/crm/v3/objects/${type}/search`, {
    json: {
      filterGroups: [{ filters: [{ propertyName: referenceProperty, operator: "EQ", value: reference }] }],
      properties: [referenceProperty],
      limit: 10,
    },
  });
  // An answer of another shape must fail the step, not read as "not created yet".
  const { results } = checkAnswer(searchAnswer, response.body, `hubspot.${where} (${request})`);
  // Search compares strings case-insensitively; references are exact.
  return results.find((object) => object.properties[referenceProperty] === reference)?.id;
}
