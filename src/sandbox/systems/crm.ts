import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Authentication, type OAuthCounters, OAuthProvider, randomString } from "../oauth-provider.ts";
import type { SandboxContext, SandboxSystem } from "../sandbox-system.ts";
import { appendKept } from "./record-limits.ts";

/**
 * A HubSpot-like CRM speaking the CRM API v3 (https://developers.hubspot.com/docs/api-reference/crm-contacts-v3):
 * contacts upserted by email, deals and timeline notes associated with a contact, search with filter
 * groups, HubSpot's JSON object and error formats, OAuth 2.0 with 30-minute access tokens (refresh
 * tokens do not rotate), and the per-app limit of 100 requests per rolling 10 s with
 * `X-HubSpot-RateLimit-*` headers on every answer. It keeps the newest 50,000 notes (`maxKeptRecords`)
 * and drops older ones, so hours of demo traffic stay in bounded memory.
 */

export interface CrmOptions {
  clientId?: string;
  clientSecret?: string;
  /** Default 1800 (HubSpot's 30 minutes). */
  accessTokenTtlSeconds?: number;
  /** Requests per rolling window per app; default 100 per 10 000 ms. */
  rateLimit?: { max: number; intervalMs: number };
  /** Requests per day per app (`X-HubSpot-RateLimit-Daily`); default 250 000. */
  dailyLimit?: number;
  /** Exact redirect URIs registered for the app; default any. */
  redirectUris?: readonly string[];
  /**
   * Custom properties defined in the portal, beyond `tenon_reference` on deals and notes (which the
   * HubSpot connector stores its idempotency reference in). Like HubSpot, unknown properties are refused.
   */
  customProperties?: Partial<Record<CrmObjectType, readonly string[]>>;
}

export type CrmObjectType = "contacts" | "deals" | "notes";

export interface CrmSystem extends SandboxSystem {
  /** A person authorises the app again: a fresh refresh token, ready for `connections.setCredentials`. */
  authorize(): { refreshToken: string };
  state(): CrmState;
}

/** One CRM record as `state()` shows it. */
export interface CrmRecordSummary {
  id: string;
  /** As stored (strings), including createdate, hs_object_id and `tenon_reference`. */
  properties: Record<string, string>;
  /** Associated contacts (deals and notes). */
  contactIds: string[];
}

export interface CrmState {
  /** Contacts by (lower-case) email: one key per person, however many upserts. */
  contacts: Record<string, CrmRecordSummary>;
  deals: CrmRecordSummary[];
  notes: CrmRecordSummary[];
  counts: {
    contacts: number;
    deals: number;
    notes: number;
    /** References (`tenon_reference`) carried by more than one deal / note: a check-then-act that failed. */
    duplicateDealReferences: number;
    duplicateNoteReferences: number;
    /** API requests refused by the 10-second limit. */
    rateLimited: number;
  };
  oauth: OAuthCounters;
}

interface CrmObject {
  id: string;
  type: CrmObjectType;
  /** Stored as HubSpot stores them: strings, with createdate / lastmodifieddate / hs_object_id kept current. */
  properties: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  /** Ids of associated contacts (deals: type 3, notes: type 202). */
  contactIds: string[];
}

interface ObjectTypeSpec {
  createdProperty: string;
  modifiedProperty: string;
  /** Returned on every read even when not asked for (null when unset). */
  defaults: readonly string[];
  writable: readonly string[];
  /** The association type id (HUBSPOT_DEFINED) from this object to a contact; undefined: none. */
  toContactTypeId: number | undefined;
  toContactLabel: string;
}

const objectTypes: Record<CrmObjectType, ObjectTypeSpec> = {
  contacts: {
    createdProperty: "createdate",
    modifiedProperty: "lastmodifieddate",
    defaults: ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    writable: [
      "email",
      "firstname",
      "lastname",
      "phone",
      "mobilephone",
      "company",
      "website",
      "jobtitle",
      "address",
      "city",
      "state",
      "zip",
      "country",
      "lifecyclestage",
      "hs_lead_status",
      "hubspot_owner_id",
    ],
    toContactTypeId: undefined,
    toContactLabel: "",
  },
  deals: {
    createdProperty: "createdate",
    modifiedProperty: "hs_lastmodifieddate",
    defaults: [
      "amount",
      "closedate",
      "createdate",
      "dealname",
      "dealstage",
      "hs_lastmodifieddate",
      "hs_object_id",
      "pipeline",
    ],
    writable: [
      "dealname",
      "amount",
      "dealstage",
      "pipeline",
      "closedate",
      "dealtype",
      "description",
      "deal_currency_code",
      "hubspot_owner_id",
    ],
    toContactTypeId: 3,
    toContactLabel: "deal_to_contact",
  },
  notes: {
    createdProperty: "hs_createdate",
    modifiedProperty: "hs_lastmodifieddate",
    defaults: ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    writable: ["hs_note_body", "hs_timestamp", "hubspot_owner_id", "hs_attachment_ids"],
    toContactTypeId: 202,
    toContactLabel: "note_to_contact",
  },
};

/** The stages of HubSpot's default sales pipeline. */
const defaultPipelineStages = [
  "appointmentscheduled",
  "qualifiedtobuy",
  "presentationscheduled",
  "decisionmakerboughtin",
  "contractsent",
  "closedwon",
  "closedlost",
];

const referenceProperty = "tenon_reference";

interface PropertyError {
  isValid: false;
  message: string;
  error: string;
  name: string;
}

/** A request HubSpot would refuse, with its status and category. */
class CrmRequestError extends Error {
  constructor(
    readonly status: number,
    readonly category: string,
    message: string,
  ) {
    super(message);
  }
}

const hex = "0123456789abcdef";
const uuidLike = () =>
  `${randomString(8, hex)}-${randomString(4, hex)}-${randomString(4, hex)}-${randomString(4, hex)}-${randomString(12, hex)}`;

export function createCrm(context: SandboxContext, options: CrmOptions = {}): CrmSystem {
  const oauth = new OAuthProvider({
    now: context.now,
    consentTitle: "CRM (HubSpot-like sandbox)",
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuth: "post",
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 1800,
    rotateRefreshTokens: false,
    redirectUris: options.redirectUris,
    format: {
      clientId: uuidLike,
      clientSecret: uuidLike,
      accessToken: () => `C${randomString(11)}-${randomString(140)}`,
      refreshToken: () => `na1-${randomString(4, hex)}-${uuidLike()}`,
    },
    // HubSpot's token errors carry its own status and message beside the RFC 6749 fields.
    errorBody: (error, description) => ({
      status: hubspotTokenStatus[error] ?? "BAD_REQUEST",
      message: description,
      correlationId: randomUUID(),
      error,
      error_description: description,
    }),
  });
  const rateLimit = options.rateLimit ?? { max: 100, intervalMs: 10_000 };
  const dailyLimit = options.dailyLimit ?? 250_000;
  const writable = writableProperties(options.customProperties ?? {});
  const objects = new Map<string, CrmObject>();
  const contactsByEmail = new Map<string, CrmObject>();
  /** Ids of the notes, oldest first: the timeline is append-only, so it is the list that is capped. */
  const noteIds: string[] = [];
  const countsByType: Record<CrmObjectType, number> = { contacts: 0, deals: 0, notes: 0 };
  const windows = new Map<string, number[]>();
  const daily = new Map<string, { day: string; count: number }>();
  let nextId = 10_001;
  let rateLimited = 0;

  const iso = (epochMs: number) => new Date(epochMs).toISOString();

  // ------------------------------------------------------------------ records

  function find(type: CrmObjectType, id: string, idProperty?: string): CrmObject | undefined {
    if (type === "contacts" && idProperty === "email") return contactsByEmail.get(id.toLowerCase());
    const found = objects.get(id);
    return found?.type === type ? found : undefined;
  }

  function create(type: CrmObjectType, properties: Record<string, string>, contactIds: string[]): CrmObject {
    const now = context.now();
    const id = String(nextId++);
    const spec = objectTypes[type];
    const object: CrmObject = {
      id,
      type,
      properties: {
        ...properties,
        [spec.createdProperty]: iso(now),
        [spec.modifiedProperty]: iso(now),
        hs_object_id: id,
      },
      createdAt: now,
      updatedAt: now,
      contactIds,
    };
    if (type === "deals" && object.properties.pipeline === undefined) object.properties.pipeline = "default";
    objects.set(id, object);
    countsByType[type] += 1;
    if (type === "contacts" && object.properties.email) contactsByEmail.set(object.properties.email, object);
    if (type === "notes") appendKept(noteIds, id, forget);
    return object;
  }

  function forget(id: string): void {
    const object = objects.get(id);
    if (!object) return;
    objects.delete(id);
    countsByType[object.type] -= 1;
  }

  function update(object: CrmObject, properties: Record<string, string>): void {
    const now = context.now();
    const previousEmail = object.properties.email;
    for (const [name, value] of Object.entries(properties)) {
      if (value === "") delete object.properties[name];
      else object.properties[name] = value;
    }
    object.properties[objectTypes[object.type].modifiedProperty] = iso(now);
    object.updatedAt = now;
    if (object.type === "contacts" && object.properties.email !== previousEmail) {
      if (previousEmail) contactsByEmail.delete(previousEmail);
      if (object.properties.email) contactsByEmail.set(object.properties.email, object);
    }
  }

  /**
   * HubSpot's object JSON. Reads return the type's default properties (null when unset) plus those asked
   * for; answers to writes return every property that has a value as well.
   */
  function toJson(
    object: CrmObject,
    shown: { requested?: readonly string[]; associations?: boolean; allSet?: boolean } = {},
  ): Record<string, unknown> {
    const spec = objectTypes[object.type];
    const names = new Set([...spec.defaults, ...(shown.allSet ? Object.keys(object.properties) : [])]);
    for (const name of shown.requested ?? []) if (writable[object.type].has(name)) names.add(name);
    const properties: Record<string, string | null> = {};
    for (const name of [...names].sort()) properties[name] = object.properties[name] ?? null;
    const json: Record<string, unknown> = {
      id: object.id,
      properties,
      createdAt: iso(object.createdAt),
      updatedAt: iso(object.updatedAt),
      archived: false,
    };
    if (shown.associations && object.contactIds.length > 0) {
      json.associations = {
        contacts: { results: object.contactIds.map((id) => ({ id, type: spec.toContactLabel })) },
      };
    }
    return json;
  }

  // ------------------------------------------------------------------ validation

  function readProperties(type: CrmObjectType, input: unknown, options: { creating: boolean }): Record<string, string> {
    if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) {
      throw new CrmRequestError(400, "VALIDATION_ERROR", 'Invalid input JSON: "properties" must be an object');
    }
    const properties: Record<string, string> = {};
    const errors: PropertyError[] = [];
    const invalid = (name: string, error: string, message: string) =>
      errors.push({ isValid: false, message, error, name });
    for (const [name, raw] of Object.entries((input ?? {}) as Record<string, unknown>)) {
      if (!writable[type].has(name)) {
        if (objectTypes[type].defaults.includes(name) || name === "hs_object_id") {
          invalid(name, "READ_ONLY_VALUE", `${name} is a read only property; its value cannot be set.`);
        } else {
          invalid(name, "PROPERTY_DOESNT_EXIST", `Property "${name}" does not exist`);
        }
        continue;
      }
      if (raw !== null && typeof raw !== "string" && typeof raw !== "number" && typeof raw !== "boolean") {
        invalid(name, "INVALID_PROPERTY_VALUE", `${JSON.stringify(raw)} is not a valid value for ${name}`);
        continue;
      }
      properties[name] = raw === null ? "" : String(raw);
    }
    checkValues(type, properties, invalid);
    if (options.creating) checkRequired(type, properties, invalid);
    if (errors.length > 0) {
      throw new CrmRequestError(400, "VALIDATION_ERROR", `Property values were not valid: ${JSON.stringify(errors)}`);
    }
    return properties;
  }

  function checkValues(
    type: CrmObjectType,
    properties: Record<string, string>,
    invalid: (name: string, error: string, message: string) => void,
  ): void {
    const { email, amount, dealstage, pipeline, hs_timestamp: timestamp } = properties;
    if (type === "contacts" && email !== undefined) {
      if (email !== "" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
        invalid("email", "INVALID_EMAIL", `Email address ${email} is invalid`);
      } else {
        properties.email = email.toLowerCase();
      }
    }
    if (amount !== undefined && amount !== "" && !Number.isFinite(Number(amount))) {
      invalid("amount", "INVALID_FLOAT", `${amount} was not a valid number.`);
    }
    if (dealstage !== undefined && !defaultPipelineStages.includes(dealstage)) {
      invalid(
        "dealstage",
        "INVALID_OPTION",
        `${dealstage} was not one of the allowed options: ${defaultPipelineStages.join(", ")}`,
      );
    }
    if (pipeline !== undefined && pipeline !== "default") {
      invalid("pipeline", "INVALID_OPTION", `${pipeline} was not one of the allowed options: [default]`);
    }
    if (timestamp !== undefined && Number.isNaN(parseTimestamp(timestamp))) {
      invalid("hs_timestamp", "INVALID_DATE", `${timestamp} is not a valid datetime (ISO 8601 or epoch milliseconds)`);
    }
  }

  function checkRequired(
    type: CrmObjectType,
    properties: Record<string, string>,
    invalid: (name: string, error: string, message: string) => void,
  ): void {
    const required = type === "deals" ? ["dealname", "dealstage"] : type === "notes" ? ["hs_timestamp"] : [];
    for (const name of required) {
      if (!properties[name]) invalid(name, "REQUIRED_PROPERTY", `${name} is required`);
    }
  }

  /** `associations: [{ to: { id }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId }] }]`, to contacts. */
  function readAssociations(type: CrmObjectType, input: unknown): string[] {
    if (input === undefined) return [];
    if (!Array.isArray(input)) {
      throw new CrmRequestError(400, "VALIDATION_ERROR", 'Invalid input JSON: "associations" must be an array');
    }
    const spec = objectTypes[type];
    const contactIds: string[] = [];
    for (const association of input as Array<Record<string, unknown>>) {
      const to = association?.to as { id?: unknown } | undefined;
      const id = typeof to?.id === "string" || typeof to?.id === "number" ? String(to.id) : undefined;
      const types = Array.isArray(association?.types) ? (association.types as Array<Record<string, unknown>>) : [];
      const valid =
        id !== undefined &&
        types.length > 0 &&
        types.every(
          (t) => t?.associationCategory === "HUBSPOT_DEFINED" && Number(t?.associationTypeId) === spec.toContactTypeId,
        );
      if (!valid) {
        throw new CrmRequestError(
          400,
          "VALIDATION_ERROR",
          spec.toContactTypeId === undefined
            ? `${type} cannot be associated on create in this sandbox`
            : `invalid association: expected { to: { id }, types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: ${spec.toContactTypeId} }] } (${type} to contact)`,
        );
      }
      if (!find("contacts", id)) {
        throw new CrmRequestError(
          400,
          "VALIDATION_ERROR",
          `One or more associations are invalid: no contact with ID ${id} exists`,
        );
      }
      if (!contactIds.includes(id)) contactIds.push(id);
    }
    return contactIds;
  }

  // ------------------------------------------------------------------ search

  function search(type: CrmObjectType, body: Record<string, unknown>): Record<string, unknown> {
    const groups = body.filterGroups ?? [];
    if (!Array.isArray(groups) || groups.length > 5) {
      throw new CrmRequestError(400, "VALIDATION_ERROR", "filterGroups must be an array of at most 5 groups");
    }
    const limit = body.limit === undefined ? 10 : Number(body.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
      throw new CrmRequestError(400, "VALIDATION_ERROR", "limit must be an integer between 1 and 200");
    }
    const after = body.after === undefined ? 0 : Number(body.after);
    const requested = Array.isArray(body.properties) ? body.properties.map(String) : [];
    const query = typeof body.query === "string" ? body.query.toLowerCase() : undefined;
    const matches = [...objects.values()]
      .filter((object) => object.type === type)
      .filter((object) => groups.length === 0 || groups.some((group) => matchesGroup(object, group)))
      .filter(
        (object) => !query || Object.values(object.properties).some((value) => value.toLowerCase().includes(query)),
      );
    const page = matches.slice(after, after + limit);
    const answer: Record<string, unknown> = {
      total: matches.length,
      results: page.map((o) => toJson(o, { requested })),
    };
    if (after + limit < matches.length) answer.paging = { next: { after: String(after + limit) } };
    return answer;
  }

  function matchesGroup(object: CrmObject, group: unknown): boolean {
    const filters = (group as { filters?: unknown })?.filters;
    if (!Array.isArray(filters) || filters.length === 0) {
      throw new CrmRequestError(400, "VALIDATION_ERROR", "each filter group needs a non-empty filters array");
    }
    return filters.every((filter) => matchesFilter(object, filter as Record<string, unknown>));
  }

  function matchesFilter(object: CrmObject, filter: Record<string, unknown>): boolean {
    const name = filter.propertyName;
    if (typeof name !== "string") throw new CrmRequestError(400, "VALIDATION_ERROR", "a filter needs propertyName");
    const values = name === "associations.contact" ? object.contactIds : [object.properties[name]];
    const present = values.filter((value): value is string => value !== undefined && value !== "");
    const wanted = filter.value === undefined ? undefined : String(filter.value).toLowerCase();
    const list = Array.isArray(filter.values) ? filter.values.map((v) => String(v).toLowerCase()) : [];
    const lower = present.map((value) => value.toLowerCase());
    switch (filter.operator) {
      case "EQ":
        return lower.some((value) => value === wanted);
      case "NEQ":
        return !lower.some((value) => value === wanted);
      case "IN":
        return lower.some((value) => list.includes(value));
      case "NOT_IN":
        return !lower.some((value) => list.includes(value));
      case "HAS_PROPERTY":
        return present.length > 0;
      case "NOT_HAS_PROPERTY":
        return present.length === 0;
      case "CONTAINS_TOKEN":
        return lower.some((value) => containsToken(value, wanted ?? ""));
      case "NOT_CONTAINS_TOKEN":
        return !lower.some((value) => containsToken(value, wanted ?? ""));
      case "GT":
      case "GTE":
      case "LT":
      case "LTE":
        return present.some((value) => compare(value, String(filter.value), filter.operator as string));
      default:
        throw new CrmRequestError(400, "VALIDATION_ERROR", `Unsupported filter operator: ${String(filter.operator)}`);
    }
  }

  // ------------------------------------------------------------------ auth and rate limit

  function authenticationError(result: Exclude<Authentication, { ok: true }>): Record<string, unknown> {
    if (result.reason === "expired") {
      const minutes = Math.max(1, Math.floor((context.now() - result.expiredAt) / 60_000));
      return errorBody(
        "EXPIRED_AUTHENTICATION",
        `The OAuth token used to make this call expired ${minutes} minute(s) ago.`,
      );
    }
    return errorBody(
      "INVALID_AUTHENTICATION",
      "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    );
  }

  /** Takes one request from the app's rolling window and daily quota; returns the headers HubSpot sends. */
  function takeRequest(appId: string): { allowed: boolean; headers: Record<string, string> } {
    const now = context.now();
    const recent = (windows.get(appId) ?? []).filter((at) => at > now - rateLimit.intervalMs);
    const day = new Date(now).toISOString().slice(0, 10);
    const today =
      daily.get(appId)?.day === day ? (daily.get(appId) as { day: string; count: number }) : { day, count: 0 };
    const allowed = recent.length < rateLimit.max && today.count < dailyLimit;
    if (allowed) {
      recent.push(now);
      today.count += 1;
    }
    windows.set(appId, recent);
    daily.set(appId, today);
    return {
      allowed,
      headers: {
        "x-hubspot-ratelimit-max": String(rateLimit.max),
        "x-hubspot-ratelimit-remaining": String(Math.max(0, rateLimit.max - recent.length)),
        "x-hubspot-ratelimit-interval-milliseconds": String(rateLimit.intervalMs),
        "x-hubspot-ratelimit-daily": String(dailyLimit),
        "x-hubspot-ratelimit-daily-remaining": String(Math.max(0, dailyLimit - today.count)),
      },
    };
  }

  async function authorizeRequest(request: FastifyRequest, reply: FastifyReply) {
    const result = oauth.authenticate(request.headers.authorization);
    if (!result.ok) return reply.code(401).send(authenticationError(result));
    const taken = takeRequest(result.clientId);
    reply.headers(taken.headers);
    if (taken.allowed) return;
    rateLimited += 1;
    return reply.code(429).send({
      status: "error",
      message: "You have reached your ten_secondly_rolling limit.",
      errorType: "RATE_LIMIT",
      correlationId: randomUUID(),
      policyName: "TEN_SECONDLY_ROLLING",
    });
  }

  // ------------------------------------------------------------------ routes

  function registerApi(api: FastifyInstance): void {
    api.addHook("preHandler", authorizeRequest);
    api.setErrorHandler((error, _request, reply) => {
      if (error instanceof CrmRequestError) {
        return reply.code(error.status).send(errorBody(error.category, error.message));
      }
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      return reply
        .code(status)
        .send(errorBody(status < 500 ? "VALIDATION_ERROR" : "INTERNAL_ERROR", (error as Error).message));
    });

    api.post("/crm/v3/objects/contacts/batch/upsert", async (request) => {
      const startedAt = iso(context.now());
      const inputs = (request.body as { inputs?: unknown } | undefined)?.inputs;
      if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > 100) {
        throw new CrmRequestError(400, "VALIDATION_ERROR", "inputs must be an array of 1 to 100 objects");
      }
      const prepared = inputs.map((input: Record<string, unknown>) => {
        if (input?.idProperty !== "email" || typeof input.id !== "string") {
          throw new CrmRequestError(
            400,
            "VALIDATION_ERROR",
            'each input needs idProperty "email" (the sandbox upserts contacts by email only) and the email as id',
          );
        }
        const properties = readProperties(
          "contacts",
          { ...(input.properties as object), email: input.id },
          {
            creating: true,
          },
        );
        return { email: properties.email as string, properties };
      });
      const emails = prepared.map((p) => p.email);
      const duplicates = emails.filter((email, index) => emails.indexOf(email) !== index);
      if (duplicates.length > 0) {
        throw new CrmRequestError(
          400,
          "VALIDATION_ERROR",
          `Duplicate IDs found in batch input: [${duplicates.join(", ")}]`,
        );
      }
      const results = prepared.map(({ email, properties }) => {
        const existing = contactsByEmail.get(email);
        if (existing) {
          update(existing, properties);
          return { ...toJson(existing, { allSet: true }), new: false };
        }
        return { ...toJson(create("contacts", properties, []), { allSet: true }), new: true };
      });
      return { status: "COMPLETE", results, startedAt, completedAt: iso(context.now()) };
    });

    api.post("/crm/v3/objects/:objectType", async (request, reply) => {
      const type = objectType(request);
      const body = (request.body ?? {}) as Record<string, unknown>;
      const properties = readProperties(type, body.properties, { creating: true });
      const contactIds = readAssociations(type, body.associations);
      if (type === "contacts" && properties.email) {
        const existing = contactsByEmail.get(properties.email);
        if (existing) throw new CrmRequestError(409, "CONFLICT", `Contact already exists. Existing ID: ${existing.id}`);
      }
      const created = create(type, properties, contactIds);
      return reply.code(201).send(toJson(created, { allSet: true, associations: true }));
    });

    api.get("/crm/v3/objects/:objectType/:id", async (request) => {
      const type = objectType(request);
      const query = request.query as Record<string, string | string[] | undefined>;
      const object = find(type, (request.params as { id: string }).id, single(query.idProperty));
      if (!object) throw new CrmRequestError(404, "OBJECT_NOT_FOUND", "resource not found");
      return toJson(object, {
        requested: listParameter(query.properties),
        associations: listParameter(query.associations).includes("contacts"),
      });
    });

    api.patch("/crm/v3/objects/:objectType/:id", async (request) => {
      const type = objectType(request);
      const query = request.query as Record<string, string | string[] | undefined>;
      const object = find(type, (request.params as { id: string }).id, single(query.idProperty));
      if (!object) throw new CrmRequestError(404, "OBJECT_NOT_FOUND", "resource not found");
      const properties = readProperties(type, (request.body as { properties?: unknown } | undefined)?.properties, {
        creating: false,
      });
      const clash = properties.email ? contactsByEmail.get(properties.email) : undefined;
      if (type === "contacts" && clash && clash !== object) {
        throw new CrmRequestError(409, "CONFLICT", `Contact already exists. Existing ID: ${clash.id}`);
      }
      update(object, properties);
      return toJson(object, { allSet: true });
    });

    api.post("/crm/v3/objects/:objectType/search", async (request) =>
      search(objectType(request), (request.body ?? {}) as Record<string, unknown>),
    );
  }

  function objectType(request: FastifyRequest): CrmObjectType {
    const name = (request.params as { objectType: string }).objectType;
    if (name === "contacts" || name === "deals" || name === "notes") return name;
    throw new CrmRequestError(400, "VALIDATION_ERROR", `Unable to infer object type from: ${name}`);
  }

  function referenceDuplicates(type: CrmObjectType): number {
    const seen = new Map<string, number>();
    for (const object of objects.values()) {
      const reference = object.type === type ? object.properties[referenceProperty] : undefined;
      if (reference) seen.set(reference, (seen.get(reference) ?? 0) + 1);
    }
    return [...seen.values()].filter((count) => count > 1).length;
  }

  const ofType = (type: CrmObjectType) => [...objects.values()].filter((object) => object.type === type);
  const summary = (object: CrmObject): CrmRecordSummary => ({
    id: object.id,
    properties: { ...object.properties },
    contactIds: [...object.contactIds],
  });

  return {
    name: "crm",
    registerRoutes(app) {
      oauth.registerRoutes(app, { authorize: "/oauth/authorize", token: "/oauth/v1/token" });
      app.register(async (api) => registerApi(api));
    },
    registerControlRoutes(app) {
      oauth.registerControlRoutes(app);
    },
    state(): CrmState {
      const deals = ofType("deals");
      const notes = ofType("notes");
      return {
        contacts: Object.fromEntries([...contactsByEmail].map(([email, contact]) => [email, summary(contact)])),
        deals: deals.map(summary),
        notes: notes.map(summary),
        counts: {
          contacts: ofType("contacts").length,
          deals: deals.length,
          notes: notes.length,
          duplicateDealReferences: referenceDuplicates("deals"),
          duplicateNoteReferences: referenceDuplicates("notes"),
          rateLimited,
        },
        oauth: oauth.counters(),
      };
    },
    counts: () => ({ ...countsByType }),
    credentials() {
      return oauth.connectionCredentials();
    },
    revokeCredentials() {
      oauth.revokeAll();
    },
    restoreCredentials() {
      // OAuth tokens stay revoked: a person authorises again (`authorize()`, or POST /_sandbox/crm/authorizations).
    },
    authorize() {
      return oauth.authorizeAgain();
    },
  };
}

const hubspotTokenStatus: Record<string, string> = {
  invalid_grant: "BAD_REFRESH_TOKEN",
  invalid_client: "BAD_CLIENT_ID",
  invalid_request: "BAD_REQUEST",
  unsupported_grant_type: "BAD_GRANT_TYPE",
};

function errorBody(category: string, message: string): Record<string, unknown> {
  return { status: "error", message, correlationId: randomUUID(), category };
}

function writableProperties(
  custom: Partial<Record<CrmObjectType, readonly string[]>>,
): Record<CrmObjectType, Set<string>> {
  const sets = {} as Record<CrmObjectType, Set<string>>;
  for (const type of Object.keys(objectTypes) as CrmObjectType[]) {
    const own = type === "contacts" ? [] : [referenceProperty];
    sets[type] = new Set([...objectTypes[type].writable, ...own, ...(custom[type] ?? [])]);
  }
  return sets;
}

/** hs_timestamp: ISO 8601 or epoch milliseconds. */
function parseTimestamp(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
}

/** HubSpot tokenises values on non-alphanumerics; a token filter may use `*` as a wildcard. */
function containsToken(value: string, token: string): boolean {
  const pattern = new RegExp(`^${token.split("*").map(escapeRegExp).join(".*")}$`);
  return value.split(/[^a-z0-9*]+/).some((part) => pattern.test(part)) || pattern.test(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function compare(value: string, wanted: string, operator: string): boolean {
  const [a, b] = [Number(value), Number(wanted)];
  const numeric = Number.isFinite(a) && Number.isFinite(b);
  const order = numeric ? a - b : value.localeCompare(wanted);
  if (operator === "GT") return order > 0;
  if (operator === "GTE") return order >= 0;
  if (operator === "LT") return order < 0;
  return order <= 0;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `?properties=a,b` or `?properties=a&properties=b`. */
function listParameter(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(",")).filter(Boolean);
}
