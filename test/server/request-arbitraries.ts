/**
 * Generators for the malformed-request property (malformed-requests.test.ts). Each
 * generated request carries what its generator knows about it (was it signed
 * correctly, what its body turns into once verified); the test's oracle turns that
 * knowledge into the status the documented rules promise.
 */
import { createHash, createHmac, randomUUID } from "node:crypto";
import fc from "fast-check";
import type { WebhookSourceConfig } from "../../src/ingestion/webhooks/webhook-sources.ts";

export const bodyLimit = 4096;
export const apiToken = "tenon-fuzz-api-token";
/** Twilio and HubSpot sign the URL they called; the server rebuilds it from this. */
export const publicUrl = "https://hooks.example.com";
/** The server's clock, pinned so timestamps inside and outside the tolerance are exact. */
export const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const nowSec = now / 1000;
const toleranceSec = 300;

const secrets = {
  stripe: "whsec_stripe_fuzz_secret",
  shopify: "shopify-fuzz-client-secret",
  github: "github-fuzz-webhook-secret",
  slack: "slack-fuzz-signing-secret",
  twilio: "twilio-fuzz-auth-token",
  hubspot: "hubspot-fuzz-client-secret",
  svix: `whsec_${Buffer.from("standard-webhooks-fuzz-key").toString("base64")}`,
  acme: "acme-fuzz-secret",
} as const;

export type KnownSource = keyof typeof secrets;
export const knownSources = Object.keys(secrets) as KnownSource[];

export const webhookConfig: Record<KnownSource, WebhookSourceConfig> = {
  stripe: { provider: "stripe", secrets: [secrets.stripe] },
  shopify: { provider: "shopify", secrets: [secrets.shopify] },
  github: { provider: "github", secrets: [secrets.github] },
  slack: { provider: "slack", secrets: [secrets.slack] },
  twilio: { provider: "twilio", secrets: [secrets.twilio] },
  hubspot: { provider: "hubspot", secrets: [secrets.hubspot] },
  svix: { provider: "standard-webhooks", secrets: [secrets.svix] },
  acme: {
    provider: "generic-hmac",
    secrets: [secrets.acme],
    signatureHeader: "X-Acme-Signature",
    algorithm: "sha512",
    encoding: "base64",
    prefix: "v1=",
    timestampHeader: "X-Acme-Timestamp",
    timestampUnit: "ms",
    typePath: "event.type",
    idHeader: "X-Acme-Delivery",
  },
};

/** Sources an API caller may not claim: every webhook source, and "schedule". */
export const reservedSources = new Set<string>(["schedule", ...knownSources]);

/** How a webhook request was signed; anything but "valid" must be refused with 401. */
export type Signing =
  | "valid"
  | "missing"
  | "garbage"
  | "wrong-secret"
  | "other-body"
  | "expired"
  | "future"
  | "bad-timestamp";

/**
 * What a correctly signed body becomes: storable events (200), Slack's challenge (200),
 * a quarantined request (202), or either of the two where both are defensible.
 */
export type Fate = "events" | "challenge" | "quarantine" | "events-or-quarantine";

export interface HttpStep {
  transport: "http";
  /** Coarse kind, for grouping failures ("stripe signed", "api", "other path"). */
  group: string;
  /** How this one was built, for the failure message. */
  note: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Sent chunked, without Content-Length (only when there are bytes: undici frames an empty stream as no body). */
  streamed: boolean;
  signing?: Signing;
  fate?: Fate;
  challenge?: string;
  /** API requests: whether Authorization carries the token. */
  authorized?: boolean;
}

/** Bytes written straight to a socket: framing undici refuses to produce. */
export interface RawStep {
  transport: "raw";
  group: string;
  note: string;
  bytes: Buffer;
  /** Sent before the body ends: a route that answers before reading it (the API, without a token) is not Fastify's 400. */
  truncatedBody?: boolean;
}

export type Step = HttpStep | RawStep;

export interface Scenario {
  kind: "single" | "redelivery" | "idempotency" | "in-flight";
  steps: Step[];
}

// ---------------------------------------------------------------- text and bytes

const J = (value: unknown) => JSON.stringify(value);
const char = (min: number, max: number) => fc.integer({ min, max }).map((code) => String.fromCharCode(code));
const headerChar = fc.oneof(
  { weight: 12, arbitrary: char(0x21, 0x7e) },
  { weight: 1, arbitrary: char(0x80, 0xff) },
  { weight: 1, arbitrary: fc.constant(" ") },
);

/** What a header value can carry (visible ASCII, inner spaces, obs-text), already trimmed as Node trims it. */
function headerText(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc
    .string({ unit: headerChar, minLength, maxLength })
    .map((s) => s.trim())
    .filter((s) => s.length >= minLength);
}

/** A header id longer than any stored id may be (500), still far inside Node's header limit. */
const overlongHeaderId = fc.integer({ min: 501, max: 3000 }).map((n) => "delivery-".padEnd(n, "x"));

/** Well-formed text of any code points except NUL. */
const text = (minLength: number, maxLength: number) =>
  fc.string({ unit: "binary", minLength, maxLength }).filter((s) => !s.includes("\u0000"));
const withNul = fc.tuple(text(0, 12), text(0, 12)).map(([a, b]) => `${a}\u0000${b}`);
/** Text with an unpaired surrogate: a JS string, but not something UTF-8 can hold. */
const illFormed = fc
  .tuple(text(0, 12), fc.constantFrom("\ud800", "\udbff", "\udc00", "\udfff"), text(0, 12))
  .map(([a, s, b]) => a + s + b);
const tooLong = (limit: number) => fc.integer({ min: limit + 1, max: limit + 400 }).map((n) => "t".repeat(n));
const nonString = fc.constantFrom<unknown>(0, 1.5, true, null, [], {}, ["a"]);

const eventType = fc.oneof(
  { weight: 4, arbitrary: text(1, 60) },
  { weight: 1, arbitrary: fc.constantFrom("charge.succeeded", "customer.created", " ", "🧪.event", "__proto__") },
);
const eventId = fc.oneof(
  { weight: 3, arbitrary: text(1, 60) },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.constantFrom("evt_1", "__proto__", "constructor", "0", "-") },
);

type Verdict = "ok" | "bad" | "ill-formed";
interface Field {
  /** The field's JSON text, or undefined when it is left out. */
  json: string | undefined;
  verdict: Verdict;
  note: string;
}

/** A field's value, judged. */
const judged =
  (verdict: Verdict, note: string) =>
  (value: unknown): Field => ({ json: J(value), verdict, note });

/** A required string field of a provider's event, and every way it can be unusable. */
function requiredString(name: string, valid: fc.Arbitrary<string>, maxLength: number): fc.Arbitrary<Field> {
  return fc.oneof(
    { weight: 24, arbitrary: valid.map(judged("ok", `valid ${name}`)) },
    { weight: 1, arbitrary: illFormed.map(judged("ill-formed", `${name} with an unpaired surrogate`)) },
    { weight: 1, arbitrary: fc.constant({ json: undefined, verdict: "bad" as const, note: `no ${name}` }) },
    { weight: 1, arbitrary: fc.constant("").map(judged("bad", `empty ${name}`)) },
    { weight: 1, arbitrary: nonString.map(judged("bad", `non-string ${name}`)) },
    { weight: 1, arbitrary: tooLong(maxLength).map(judged("bad", `${name} over ${maxLength} characters`)) },
    { weight: 1, arbitrary: withNul.map(judged("bad", `${name} with a NUL character`)) },
  );
}

/** The fate of a body whose fields were judged separately: one unusable field quarantines it. */
function fateOf(...verdicts: Verdict[]): Fate {
  if (verdicts.includes("bad")) return "quarantine";
  return verdicts.includes("ill-formed") ? "events-or-quarantine" : "events";
}

interface Fragment {
  text: string;
  /** Holds a number JSON.parse turns into Infinity: the payload cannot be stored as JSON. */
  nonFinite: boolean;
  note: string;
}

/** A JSON value as text: ordinary, deeply nested, with NULs, huge numbers, or ones that overflow to Infinity. */
const fragment: fc.Arbitrary<Fragment> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .jsonValue({ maxDepth: 3, stringUnit: "binary" })
      .map((v) => ({ text: J(v), nonFinite: false, note: "json" })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 50, max: 1800 })
      .map((n) => ({ text: "[".repeat(n) + "]".repeat(n), nonFinite: false, note: `nested ${n} deep` })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(withNul, { minLength: 1, maxLength: 3 })
      .map((v) => ({ text: J({ [v[0] ?? ""]: v }), nonFinite: false, note: "NULs in strings and keys" })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom("1e308", "-0", "123456789012345678901234567890", "5e-324", '{"__proto__":{"polluted":true}}')
      .map((t) => ({ text: t, nonFinite: false, note: `edge value ${t}` })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom("1e400", "-1e400", "[1e999]", '{"amount":1e309}')
      .map((t) => ({ text: t, nonFinite: true, note: `non-finite ${t}` })),
  },
);
const objectFragment = fragment.map((f) => ({ ...f, text: `{"value":${f.text}}` }));

/** Byte sequences that are not UTF-8; inside a JSON string they decode to U+FFFD or are refused. */
const invalidUtf8 = fc.constantFrom(
  [0xff],
  [0xc3],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80, 0x80],
);
const junkMarker = "\ue000";

/** JSON text as bytes, with invalid UTF-8 spliced into the string that holds the marker. */
function jsonBytes(text: string, junk: readonly number[] | null): Buffer {
  if (junk === null) return Buffer.from(text);
  return Buffer.concat(
    text
      .split(junkMarker)
      .flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [Buffer.from(junk), Buffer.from(part)])),
  );
}

/** Bodies JSON.parse refuses whatever their content; some quote a NUL in the error message. */
const notJson = fc.oneof(
  fc.constant(""),
  fc
    .tuple(fc.constantFrom("<", "}", "'", "NaN", "undefined", "\u0000", "nul\u0000", "{,", "[,", '{"a":}'), text(0, 40))
    .map(([start, rest]) => start + rest),
  fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom("\u0000", "}", " x", ",")).map(([v, tail]) => J(v) + tail),
);
const notJsonBytes = fc.oneof(
  notJson.map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.concat([Buffer.from("<"), Buffer.from(bytes)])),
);
const nonObjectJson = fc
  .jsonValue({ maxDepth: 2, stringUnit: "binary" })
  .filter((v) => typeof v !== "object" || v === null || Array.isArray(v))
  .map((v) => J(v));

// ---------------------------------------------------------------- signed bodies, per provider

interface SignedBody {
  body: Buffer;
  family: "json" | "form";
  fate: Fate;
  note: string;
  /** Provider headers that are not signatures: event names, delivery ids, topics. */
  headers: Record<string, string>;
  /** Added to the path, without "?". */
  query?: string;
  challenge?: string;
}

const signed = (s: Partial<SignedBody> & Pick<SignedBody, "body" | "fate" | "note">): SignedBody => ({
  family: "json",
  headers: {},
  ...s,
});
const quarantined = (body: Buffer | string, note: string, family: "json" | "form" = "json"): SignedBody =>
  signed({ body: Buffer.isBuffer(body) ? body : Buffer.from(body), fate: "quarantine", note, family });
/** Invalid UTF-8 inside a string leaves the JSON parseable only if decoding is lossy: either answer is defensible. */
const withJunk = (fate: Fate, junk: readonly number[] | null): Fate =>
  junk !== null && fate === "events" ? "events-or-quarantine" : fate;
const junkOption = fc.option(invalidUtf8, { freq: 6 });
/** A header delivery id the events table cannot hold: the request must still be quarantined, not refused. */
const deliveryId = fc.oneof(
  { weight: 4, arbitrary: fc.constant<string | undefined>(undefined) },
  { weight: 3, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: headerText(1, 100) },
  { weight: 1, arbitrary: overlongHeaderId },
);
const idFate = (id: string | undefined, fate: Fate): Fate =>
  id !== undefined && id.length > 500 ? "quarantine" : fate;
const idNote = (id: string | undefined) => (id !== undefined && id.length > 500 ? `, delivery id of ${id.length}` : "");
const optional = (name: string, value: string | undefined): Record<string, string> =>
  value === undefined ? {} : { [name]: value };

/**
 * A customer id for the test integration on "charge.succeeded", whose concurrency key is the customer:
 * an unusable key (not a string, empty) makes the event stored as quarantined, still accepted.
 */
const customerArb = fc.oneof(
  { weight: 2, arbitrary: text(1, 30).map((c) => J(c)) },
  { weight: 1, arbitrary: withNul.map((c) => J(c)) },
  { weight: 1, arbitrary: fc.constantFrom("5", "null", '""', "{}", '"cus_1"') },
);

const stripeBodies: fc.Arbitrary<SignedBody> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.tuple(eventId, customerArb).map(([id, customer]) =>
      signed({
        body: Buffer.from(`{"id":${J(id)},"type":"charge.succeeded","data":{"object":{"customer":${customer}}}}`),
        fate: "events",
        note: `charge.succeeded for customer ${customer}`,
      }),
    ),
  },
  {
    weight: 8,
    arbitrary: fc
      .record({
        id: requiredString("id", eventId, 500),
        type: requiredString("type", eventType, 200),
        data: fragment,
        junk: junkOption,
      })
      .map(({ id, type, data, junk }) => {
        const fields = [
          id.json && `"id":${id.json}`,
          `"object":"event"`,
          type.json && `"type":${type.json}`,
          `"data":{"object":${data.text}}`,
          junk && `"note":"${junkMarker}"`,
        ];
        const fate = withJunk(fateOf(id.verdict, type.verdict, data.nonFinite ? "bad" : "ok"), junk);
        return signed({
          body: jsonBytes(`{${fields.filter(Boolean).join(",")}}`, junk),
          fate,
          note: `${id.note}, ${type.note}, payload ${data.note}${junk ? ", invalid UTF-8 in a string" : ""}`,
        });
      }),
  },
  { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
  { weight: 1, arbitrary: nonObjectJson.map((b) => quarantined(b, "JSON but not an object")) },
);

const githubBodies: fc.Arbitrary<SignedBody> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record({
        action: fc.oneof(
          { weight: 4, arbitrary: text(1, 60).map(judged("ok", "action")) },
          { weight: 1, arbitrary: fc.constant({ json: undefined, verdict: "ok" as Verdict, note: "no action" }) },
          { weight: 1, arbitrary: nonString.map(judged("ok", "odd action")) },
          { weight: 1, arbitrary: withNul.map(judged("bad", "NUL action")) },
          { weight: 1, arbitrary: tooLong(200).map(judged("bad", "long action")) },
          { weight: 1, arbitrary: illFormed.map(judged("ill-formed", "ill-formed action")) },
        ),
        event: fc.option(headerText(1, 40), { nil: undefined }),
        delivery: deliveryId,
        data: objectFragment,
        form: fc.boolean(),
        junk: junkOption,
      })
      .map(({ action, event, delivery, data, form, junk }) => {
        const json = `{${action.json === undefined ? "" : `"action":${action.json},`}"data":${data.text}${junk && !form ? `,"note":"${junkMarker}"` : ""}}`;
        const fate = idFate(
          delivery,
          withJunk(fateOf(action.verdict, data.nonFinite ? "bad" : "ok"), form ? null : junk),
        );
        const headers = { ...optional("x-github-event", event), ...optional("x-github-delivery", delivery) };
        if (form) {
          // URLSearchParams turns an unpaired surrogate into U+FFFD: "ill-formed" arrives well-formed, either answer fits.
          const body = Buffer.from(new URLSearchParams({ payload: json, extra: "1" }).toString());
          return signed({ body, family: "form", fate, headers, note: `form, ${action.note}${idNote(delivery)}` });
        }
        return signed({
          body: jsonBytes(json, junk),
          fate,
          headers,
          note: `${action.note}, ${data.note}${idNote(delivery)}`,
        });
      }),
  },
  { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
  { weight: 1, arbitrary: nonObjectJson.map((b) => quarantined(b, "JSON but not an object")) },
  { weight: 1, arbitrary: fc.constant(quarantined("zen=hello&hook_id=1", "form without a payload field", "form")) },
  {
    weight: 1,
    arbitrary: notJson.map((s) =>
      quarantined(new URLSearchParams({ payload: s }).toString(), "form payload that is not JSON", "form"),
    ),
  },
);

const shopifyBodies: fc.Arbitrary<SignedBody> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        data: fragment,
        topic: fc.oneof(
          { weight: 3, arbitrary: fc.constant<string | undefined>(undefined) },
          { weight: 3, arbitrary: headerText(1, 100) },
          { weight: 1, arbitrary: fc.integer({ min: 201, max: 600 }).map((n) => "orders/".padEnd(n, "x")) },
        ),
        eventId: deliveryId,
        webhookId: fc.option(fc.uuid(), { nil: undefined }),
        junk: junkOption,
      })
      .map(({ data, topic, eventId, webhookId, junk }) => {
        // Shopify's body may be any JSON value; only the topic header names the type.
        const json = junk ? `{"value":${data.text},"note":"${junkMarker}"}` : data.text;
        const topicFate: Verdict = topic !== undefined && topic.length > 200 ? "bad" : "ok";
        const fate = idFate(eventId, withJunk(fateOf(topicFate, data.nonFinite ? "bad" : "ok"), junk));
        const headers = {
          ...optional("x-shopify-topic", topic),
          ...optional("x-shopify-event-id", eventId),
          ...optional("x-shopify-webhook-id", webhookId),
        };
        const note = `${data.note}${topic && topic.length > 200 ? ", topic over 200" : ""}${idNote(eventId)}`;
        return signed({ body: jsonBytes(json, junk), fate, headers, note });
      }),
  },
  { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
);

const svixBodies: fc.Arbitrary<SignedBody> = fc
  .record({
    messageId: fc.oneof(
      { weight: 4, arbitrary: fc.uuid().map((u) => `msg_${u}`) },
      { weight: 2, arbitrary: headerText(1, 60) },
      { weight: 1, arbitrary: overlongHeaderId },
    ),
    body: fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .record({ type: requiredString("type", eventType, 200), data: fragment, junk: junkOption })
          .map(({ type, data, junk }) => {
            const fields = [type.json && `"type":${type.json}`, `"data":${data.text}`, junk && `"n":"${junkMarker}"`];
            return signed({
              body: jsonBytes(`{${fields.filter(Boolean).join(",")}}`, junk),
              fate: withJunk(fateOf(type.verdict, data.nonFinite ? "bad" : "ok"), junk),
              note: `${type.note}, ${data.note}`,
            });
          }),
      },
      { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
      { weight: 1, arbitrary: nonObjectJson.map((b) => quarantined(b, "JSON but not an object")) },
    ),
  })
  .map(({ messageId, body }) =>
    signed({
      ...body,
      fate: idFate(messageId, body.fate),
      headers: { "webhook-id": messageId },
      note: `${body.note}${idNote(messageId)}`,
    }),
  );

const slackBodies: fc.Arbitrary<SignedBody> = fc.oneof(
  {
    weight: 2,
    arbitrary: text(1, 80).map((challenge) =>
      signed({
        body: Buffer.from(J({ token: "t", challenge, type: "url_verification" })),
        fate: "challenge",
        challenge,
        note: "url_verification",
      }),
    ),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        eventId: requiredString("event_id", eventId, 500),
        type: requiredString("event.type", eventType, 200),
        data: fragment,
      })
      .map(({ eventId: id, type, data }) => {
        const event = `{${type.json === undefined ? "" : `"type":${type.json},`}"data":${data.text}}`;
        const body = `{"type":"event_callback",${id.json === undefined ? "" : `"event_id":${id.json},`}"event":${event}}`;
        return signed({
          body: Buffer.from(body),
          fate: fateOf(id.verdict, type.verdict, data.nonFinite ? "bad" : "ok"),
          note: `event_callback, ${id.note}, ${type.note}`,
        });
      }),
  },
  {
    weight: 2,
    arbitrary: requiredString("type", eventType, 200).map((type) =>
      signed({
        body: Buffer.from(`{${type.json === undefined ? "" : `"type":${type.json},`}"x":1}`),
        fate: fateOf(type.verdict),
        note: `other Events API type: ${type.note}`,
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: requiredString("type", eventType, 200).map((type) => {
      const payload = `{${type.json === undefined ? "" : `"type":${type.json},`}"user":{"id":"U1"}}`;
      // The form encoding replaces an unpaired surrogate with U+FFFD, so "ill-formed" arrives well-formed.
      const fate = type.verdict === "ill-formed" ? "events-or-quarantine" : fateOf(type.verdict);
      return signed({
        body: Buffer.from(new URLSearchParams({ payload }).toString()),
        family: "form",
        fate,
        note: `interactivity form, ${type.note}`,
      });
    }),
  },
  {
    weight: 1,
    arbitrary: text(0, 40).map((t) =>
      signed({
        body: Buffer.from(new URLSearchParams({ command: "/deploy", text: t }).toString()),
        family: "form",
        fate: "events",
        note: "slash command",
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constant(quarantined("text=hello&user_id=U1", "form with neither payload nor command", "form")),
  },
  {
    weight: 1,
    arbitrary: fc.constant(quarantined('{"type":"url_verification"}', "url_verification without challenge")),
  },
  {
    weight: 1,
    arbitrary: fc.constant(quarantined('{"type":"event_callback","event_id":"Ev1"}', "event_callback without event")),
  },
  { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
  { weight: 1, arbitrary: nonObjectJson.map((b) => quarantined(b, "JSON but not an object")) },
);

const twilioStatus = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom("delivered", "sent", "failed", "").map((s) => ({ value: s, verdict: "ok" as Verdict })),
  },
  { weight: 1, arbitrary: tooLong(192).map((s) => ({ value: s, verdict: "bad" as Verdict })) },
  { weight: 1, arbitrary: withNul.map((s) => ({ value: s, verdict: "bad" as Verdict })) },
);
const twilioBodies: fc.Arbitrary<SignedBody> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        status: fc.option(twilioStatus, { nil: undefined }),
        message: fc.option(text(0, 80), { nil: undefined }),
        // Other fields; the "X" keeps them from being one of the fields that name the event type.
        extra: fc.array(
          fc.tuple(
            text(0, 12).map((n) => `X${n}`),
            text(0, 40),
          ),
          { maxLength: 6 },
        ),
        tail: fc.constantFrom("", "&", "&&", "&%ZZ=1", "&=", "&%E0%A4%A=x", "&X%00=%00", "&X=%FF%FE"),
        token: deliveryId,
      })
      .map(({ status, message, extra, tail, token }) => {
        const pairs: [string, string][] = [...extra];
        if (status) pairs.push(["MessageStatus", status.value]);
        if (message !== undefined) pairs.push(["Body", message]);
        const body = Buffer.from(new URLSearchParams(pairs).toString() + tail);
        return signed({
          body,
          family: "form",
          fate: idFate(token, fateOf(status?.verdict ?? "ok")),
          headers: optional("i-twilio-idempotency-token", token),
          note: `form, MessageStatus of ${status?.value.length ?? "no"} characters${idNote(token)}`,
        });
      }),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fragment.map((f) => ({ body: Buffer.from(f.text), fate: fateOf(f.nonFinite ? "bad" : "ok"), note: f.note })),
        notJsonBytes.map((b) => ({ body: b, fate: "quarantine" as Fate, note: "not JSON" })),
      )
      .map(({ body, fate, note }) =>
        // A JSON body is bound to the signed URL by its hash in bodySHA256.
        signed({
          body,
          fate,
          query: `bodySHA256=${createHash("sha256").update(body).digest("hex")}`,
          note: `JSON, ${note}`,
        }),
      ),
  },
);

const hubspotEventId: fc.Arbitrary<Field> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.integer().map(judged("ok", "integer eventId")),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-0, 1e21, 2 ** 53 + 2, 0.1 + 0.2))
      .map((n) => ({ json: J(n), verdict: "ok" as Verdict, note: "odd numeric eventId" })),
  },
  { weight: 2, arbitrary: eventId.map(judged("ok", "string eventId")) },
  {
    weight: 1,
    arbitrary: illFormed.map(judged("ill-formed", "ill-formed eventId")),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.constantFrom("null", "true", "{}", "[]", '""', "1e400", "-1e999"), withNul.map(J), tooLong(500).map(J))
      .map((json) => ({ json, verdict: "bad" as Verdict, note: `unusable eventId ${json.slice(0, 20)}` })),
  },
  { weight: 1, arbitrary: fc.constant({ json: undefined, verdict: "bad" as Verdict, note: "no eventId" }) },
);
const hubspotBodies: fc.Arbitrary<SignedBody> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        events: fc.array(
          fc.record({ id: hubspotEventId, type: requiredString("subscriptionType", eventType, 200), value: fragment }),
          { maxLength: 6 },
        ),
        repeatFirst: fc.boolean(),
      })
      .map(({ events, repeatFirst }) => {
        const all = repeatFirst && events[0] ? [...events, events[0]] : events;
        const json = all.map(({ id, type, value }) => {
          const fields = [
            id.json && `"eventId":${id.json}`,
            type.json && `"subscriptionType":${type.json}`,
            `"portalId":62515,"propertyValue":${value.text}`,
          ];
          return `{${fields.filter(Boolean).join(",")}}`;
        });
        const verdicts = all.flatMap(({ id, type, value }) => [
          id.verdict,
          type.verdict,
          value.nonFinite ? "bad" : "ok",
        ]);
        return signed({
          body: Buffer.from(`[${json.join(",")}]`),
          fate: fateOf(...(verdicts as Verdict[])),
          note: `batch of ${all.length}${repeatFirst && events[0] ? " (an eventId repeated)" : ""}: ${all.map((e) => e.id.note).join(", ")}`,
        });
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constant(
      quarantined('{"eventId":1,"subscriptionType":"contact.creation"}', "an object, not a batch"),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("[1]", '["x"]', "[null]", "[[]]").map((b) => quarantined(b, "batch of non-objects")),
  },
  { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
);

const acmeBodies: fc.Arbitrary<SignedBody> = fc
  .record({
    delivery: deliveryId,
    body: fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .record({
            // The type path is optional: missing, empty or non-string falls back to the default type.
            type: fc.oneof(
              { weight: 4, arbitrary: eventType.map(judged("ok", "type")) },
              { weight: 1, arbitrary: nonString.map(judged("ok", "odd type")) },
              { weight: 1, arbitrary: tooLong(200).map(judged("bad", "long type")) },
              { weight: 1, arbitrary: withNul.map(judged("bad", "NUL type")) },
              { weight: 1, arbitrary: illFormed.map(judged("ill-formed", "ill-formed type")) },
            ),
            data: fragment,
            junk: junkOption,
          })
          .map(({ type, data, junk }) =>
            signed({
              body: jsonBytes(
                `{"event":{"type":${type.json}},"data":${data.text}${junk ? `,"n":"${junkMarker}"` : ""}}`,
                junk,
              ),
              fate: withJunk(fateOf(type.verdict, data.nonFinite ? "bad" : "ok"), junk),
              note: `${type.note}, ${data.note}`,
            }),
          ),
      },
      {
        weight: 1,
        arbitrary: fragment.map((f) =>
          signed({ body: Buffer.from(f.text), fate: fateOf(f.nonFinite ? "bad" : "ok"), note: `bare ${f.note}` }),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.array(fc.tuple(text(0, 12), text(0, 30)), { maxLength: 5 }).map((pairs) =>
          signed({
            body: Buffer.from(new URLSearchParams(pairs).toString()),
            family: "form",
            fate: "events",
            note: "form",
          }),
        ),
      },
      { weight: 1, arbitrary: notJsonBytes.map((b) => quarantined(b, "not JSON")) },
    ),
  })
  .map(({ delivery, body }) =>
    signed({
      ...body,
      fate: idFate(delivery, body.fate),
      headers: optional("x-acme-delivery", delivery),
      note: `${body.note}${idNote(delivery)}`,
    }),
  );

const signedBodies: Record<KnownSource, fc.Arbitrary<SignedBody>> = {
  stripe: stripeBodies,
  shopify: shopifyBodies,
  github: githubBodies,
  slack: slackBodies,
  twilio: twilioBodies,
  hubspot: hubspotBodies,
  svix: svixBodies,
  acme: acmeBodies,
};

// ---------------------------------------------------------------- signatures

const hmac = (algorithm: string, key: string | Buffer, parts: (string | Buffer)[], encoding: "hex" | "base64") => {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest(encoding);
};

/** Twilio signs the URL then every form field as name+value, names sorted, each distinct value sorted. */
function twilioSignedData(url: string, body: Buffer, form: boolean): string {
  if (!form) return url;
  const params = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body.toString("utf8")))
    params.set(name, [...(params.get(name) ?? []), value]);
  let data = url;
  for (const name of [...params.keys()].sort()) {
    for (const value of [...new Set(params.get(name))].sort()) data += name + value;
  }
  return data;
}

const timestamped: Partial<Record<KnownSource, "s" | "ms">> = {
  stripe: "s",
  slack: "s",
  svix: "s",
  hubspot: "ms",
  acme: "ms",
};

/** Headers a provider puts its signature (and signed timestamp) in: where garbage goes. */
const signatureHeaderNames: Record<KnownSource, string[]> = {
  stripe: ["stripe-signature"],
  shopify: ["x-shopify-hmac-sha256"],
  github: ["x-hub-signature-256"],
  slack: ["x-slack-signature", "x-slack-request-timestamp"],
  twilio: ["x-twilio-signature"],
  hubspot: ["x-hubspot-signature-v3", "x-hubspot-request-timestamp"],
  svix: ["webhook-signature", "webhook-timestamp"],
  acme: ["x-acme-signature", "x-acme-timestamp"],
};

interface Clock {
  /** Seconds from now, inside the tolerance (the bounds included). */
  insideSec: number;
  insideMs: number;
  /** Seconds from now, beyond the tolerance. */
  outsideSec: number;
  badTimestamp: string;
}

const clockArb: fc.Arbitrary<Clock> = fc.record({
  insideSec: fc.oneof(
    fc.integer({ min: -toleranceSec, max: toleranceSec }),
    fc.constantFrom(-toleranceSec, toleranceSec),
  ),
  insideMs: fc.oneof(
    fc.integer({ min: -toleranceSec * 1000, max: toleranceSec * 1000 }),
    fc.constantFrom(-toleranceSec * 1000, toleranceSec * 1000),
  ),
  outsideSec: fc.integer({ min: toleranceSec + 1, max: 10_000_000 }),
  // Not plain digits once Node has trimmed the header.
  badTimestamp: fc.constantFrom("+1748779200", "-1", "1e9", "1748779200.5", "0x10", "abc", "17487792000000000", "1,2"),
});

/** The provider's signature headers for a request signed as `signing` says. */
function signatureHeaders(
  source: KnownSource,
  input: { url: string; body: Buffer; form: boolean; headers: Record<string, string> },
  signing: Signing,
  clock: Clock,
): Record<string, string> {
  if (signing === "missing" || signing === "garbage") return {};
  const skewSec = signing === "expired" ? -clock.outsideSec : signing === "future" ? clock.outsideSec : null;
  let timestamp = clock.badTimestamp;
  if (signing !== "bad-timestamp" && timestamped[source] === "ms") {
    timestamp = String(skewSec === null ? now + clock.insideMs : now + skewSec * 1000);
  } else if (signing !== "bad-timestamp") {
    timestamp = String(nowSec + (skewSec ?? clock.insideSec));
  }
  const secret = signing === "wrong-secret" ? `not-${secrets[source]}` : secrets[source];
  const body = signing === "other-body" ? Buffer.concat([input.body, Buffer.from(" ")]) : input.body;
  switch (source) {
    case "stripe":
      return {
        "stripe-signature": `t=${timestamp},v0=ignored,v1=${hmac("sha256", secret, [`${timestamp}.`, body], "hex")}`,
      };
    case "shopify":
      return { "x-shopify-hmac-sha256": hmac("sha256", secret, [body], "base64") };
    case "github":
      return { "x-hub-signature-256": `sha256=${hmac("sha256", secret, [body], "hex")}` };
    case "slack":
      return {
        "x-slack-signature": `v0=${hmac("sha256", secret, [`v0:${timestamp}:`, body], "hex")}`,
        "x-slack-request-timestamp": timestamp,
      };
    case "twilio": {
      const signedUrl =
        signing === "other-body" && !input.form
          ? input.url.replace(/bodySHA256=[0-9a-f]+/, `bodySHA256=${createHash("sha256").update(body).digest("hex")}`)
          : input.url;
      return { "x-twilio-signature": hmac("sha1", secret, [twilioSignedData(signedUrl, body, input.form)], "base64") };
    }
    case "hubspot":
      return {
        "x-hubspot-signature-v3": hmac("sha256", secret, ["POST", input.url, body, timestamp], "base64"),
        "x-hubspot-request-timestamp": timestamp,
      };
    case "svix": {
      const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
      const id = input.headers["webhook-id"] ?? "";
      const signature = hmac("sha256", key, [`${id}.${timestamp}.`, body], "base64");
      // Standard Webhooks sends every active signature, space-separated; any v1 may match.
      return { "webhook-signature": `v1a,ignored v1,${signature}`, "webhook-timestamp": timestamp };
    }
    case "acme":
      return {
        "x-acme-signature": `v1=${hmac("sha512", secret, [`${timestamp}.`, body], "base64")}`,
        "x-acme-timestamp": timestamp,
      };
  }
}

const signingArb = (source: KnownSource): fc.Arbitrary<Signing> => {
  const modes: Signing[] = ["missing", "garbage", "wrong-secret", "other-body"];
  if (timestamped[source]) modes.push("expired", "future", "bad-timestamp");
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant("valid" as const) },
    { weight: 1, arbitrary: fc.constantFrom(...modes) },
  );
};

/** Garbage for signature headers: wrong shapes, right shapes with wrong digits, huge values. */
const garbageValue = fc.oneof(
  { weight: 3, arbitrary: headerText(0, 60) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom("sha256=", "v0=", "v1=", "v1,", "t=", `t=${nowSec},v1=`, "sha1="),
        fc.uint8Array({ maxLength: 64 }),
      )
      .map(([prefix, b]) => prefix + Buffer.from(b).toString("hex")),
  },
  { weight: 1, arbitrary: fc.constantFrom(String(nowSec), String(now), "", "0", "t=,v1=", "v1,", "sha256=") },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 8000 }).map((n) => "A".repeat(n)) },
);
const garbageSignatureHeaders = fc
  .tuple(fc.constantFrom(...knownSources), fc.array(garbageValue, { minLength: 1, maxLength: 3 }))
  .map(([source, values]) =>
    Object.fromEntries(signatureHeaderNames[source].map((name, i) => [name, values[i % values.length] ?? ""])),
  );

// ---------------------------------------------------------------- content types, headers, paths, bodies

const jsonContentTypes = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=UTF-8",
  'application/json; charset="utf-8"',
  "APPLICATION/JSON",
  "Application/Json",
  "application/json;",
  "application/vnd.github+json",
  "application/cloudevents+json",
  "application/merge-patch+json; charset=utf-8",
  "application/json; boundary=x; charset=latin1",
  "application/json;charset=utf-16",
];
const formContentTypes = [
  "application/x-www-form-urlencoded",
  "application/x-www-form-urlencoded; charset=utf-8",
  "APPLICATION/X-WWW-FORM-URLENCODED",
  "application/x-www-form-urlencoded;charset=UTF-8",
];
const unsupportedContentTypes = [
  "text/plain",
  "text/json",
  "application/xml",
  "text/html; charset=utf-8",
  "multipart/form-data; boundary=----fuzz",
  "application/octet-stream",
  "application/jsonp",
  "application/json-seq",
  "application/x-json",
  "application/json5",
  "json",
  "application",
  "application/",
  "/json",
  "*/*",
  "application/*",
  "application/json, text/plain",
  "application/json/extra",
  "application/ json",
  "",
];

type ContentTypeChoice = { value: string | undefined; note: string };
const contentTypeArb = (preferred: "json" | "form" | "any"): fc.Arbitrary<ContentTypeChoice> => {
  const json = fc.constantFrom(...jsonContentTypes).map((value) => ({ value, note: "json" }));
  const form = fc.constantFrom(...formContentTypes).map((value) => ({ value, note: "form" }));
  const other = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...unsupportedContentTypes) },
    { weight: 1, arbitrary: headerText(0, 40) },
  );
  const unsupported = other.map((value) => ({ value, note: "unsupported" }));
  const missing = fc.constant({ value: undefined, note: "missing" });
  if (preferred === "any") return fc.oneof(json, form, unsupported, missing);
  return fc.oneof(
    { weight: 16, arbitrary: preferred === "json" ? json : form },
    { weight: 2, arbitrary: unsupported },
    { weight: 1, arbitrary: missing },
  );
};

/** Headers no route reads: they must change nothing. */
const noiseHeaders = fc
  .array(
    fc.oneof(
      fc.tuple(fc.stringMatching(/^x-fuzz-[a-z0-9-]{1,12}$/), headerText(0, 80)),
      fc.tuple(
        fc.constant("x-fuzz-huge"),
        fc.integer({ min: 1000, max: 8000 }).map((n) => "h".repeat(n)),
      ),
      fc.tuple(
        fc.constant("content-encoding"),
        fc.constantFrom("gzip", "br", "identity", "deflate, gzip", "x-garbage"),
      ),
      fc.tuple(fc.constant("accept"), fc.constantFrom("*/*", "text/html", "application/json;q=0", "garbage/")),
      fc.tuple(fc.constant("user-agent"), headerText(0, 60)),
      fc.tuple(fc.constant("x-forwarded-proto"), fc.constantFrom("https", "http", "gopher")),
      fc.tuple(fc.constant("content-language"), headerText(0, 20)),
    ),
    { maxLength: 4 },
  )
  .map((entries) => Object.fromEntries(entries));

/** Keeps a request's headers well inside Node's 16 KiB limit by dropping the largest unprotected ones. */
function fitHeaders(headers: Record<string, string>, protect: Iterable<string>): Record<string, string> {
  const kept = { ...headers };
  const protectedNames = new Set(protect);
  while (headerBytes(kept) > 12_000) {
    const largest = Object.keys(kept)
      .filter((name) => !protectedNames.has(name))
      .sort((a, b) => (kept[b]?.length ?? 0) - (kept[a]?.length ?? 0))[0];
    if (largest === undefined) break;
    delete kept[largest];
  }
  return kept;
}

export function headerBytes(headers: Record<string, string>): number {
  return Object.entries(headers).reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
}

const queryArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("portal=62515", "a=1&a=2", "x=%ZZ", "empty=", "q=%E2%9C%93", "&&", "=") },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9_.~-]{1,10}=[a-zA-Z0-9_.~%-]{0,20}$/) },
);

/** A known source's path segment, sometimes percent-encoded: routing decodes it. */
const sourceSegment = (source: KnownSource) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(source) },
    {
      weight: 1,
      arbitrary: fc
        .nat({ max: source.length - 1 })
        .map((i) => `${source.slice(0, i)}%${source.charCodeAt(i).toString(16).toUpperCase()}${source.slice(i + 1)}`),
    },
  );
const unknownSource = fc.oneof(
  fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/).filter((s) => !(knownSources as string[]).includes(s)),
  fc.constantFrom("STRIPE", "stripe.old", "stripe-", "schedule", "hubspot2", "%20", "a%2Fb", "stripe;x", ""),
);

const sizedFiller = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(bodyLimit - 1, bodyLimit, bodyLimit + 1, 2 * bodyLimit, 3 * bodyLimit),
      fc.integer({ min: 0, max: 3 * bodyLimit }),
    ),
    fc.constantFrom("x", "{", "\u0000", "é", "%", " "),
  )
  .map(([size, fill]) => {
    const unit = Buffer.from(fill);
    return Buffer.alloc(size - (size % unit.length), unit);
  });

/** Bodies with no meaning: JSON-ish, binary, invalid UTF-8, NULs, deep nesting, sizes around the limit. */
const garbageBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.jsonValue({ maxDepth: 4, stringUnit: "binary" }).map((v) => Buffer.from(J(v))),
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
  fc.array(invalidUtf8, { minLength: 1, maxLength: 8 }).map((parts) => Buffer.from(parts.flat())),
  withNul.map((s) => Buffer.from(J({ type: s, payload: s }))),
  fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.from("[".repeat(n) + "]".repeat(n))),
  fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.from('{"a":'.repeat(n))),
  fc.constantFrom("a=1&b=%00&%ZZ=", "payload=%7B", "=&=&", "\ufeff{}").map((s) => Buffer.from(s)),
  sizedFiller,
);

// ---------------------------------------------------------------- requests

const streamedArb = fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const withQuery = (path: string, query: string) => (query === "" ? path : `${path}?${query}`);

/** A request to a configured source, signed (correctly or not) over a body its provider would send. */
const signedHookStep = (source: KnownSource): fc.Arbitrary<HttpStep> =>
  fc
    .record({
      segment: sourceSegment(source),
      signed: signedBodies[source],
      signing: signingArb(source),
      clock: clockArb,
      garbage: garbageSignatureHeaders,
      extraQuery: queryArb,
      streamed: streamedArb,
      noise: noiseHeaders,
      // Both drawn, one used: no chain, so fast-check can shrink every part on its own.
      contentTypes: fc.record({ json: contentTypeArb("json"), form: contentTypeArb("form") }),
    })
    .map(({ segment, signed: s, signing, clock, garbage, extraQuery, streamed, noise, contentTypes }) => {
      const contentType = contentTypes[s.family];
      const query = [s.query, extraQuery].filter(Boolean).join("&");
      const path = withQuery(`/hooks/${segment}`, query);
      const form = s.family === "form" && s.query === undefined;
      // Without a content type an empty body is not a form: the provider reads it as JSON, and "" is not JSON.
      const fate = form && contentType.value === undefined && s.body.length === 0 ? "quarantine" : s.fate;
      const signature = signatureHeaders(
        source,
        { url: publicUrl + path, body: s.body, form, headers: s.headers },
        signing,
        clock,
      );
      const headers = {
        ...noise,
        ...(signing === "garbage" ? pick(garbage, signatureHeaderNames[source]) : {}),
        ...s.headers,
        ...signature,
        ...(contentType.value === undefined ? {} : { "content-type": contentType.value }),
      };
      return {
        transport: "http" as const,
        group: `${source} signed ${signing === "valid" ? "correctly" : `(${signing})`}`,
        note: `${s.note}; content-type ${contentType.note}`,
        method: "POST",
        path,
        headers: fitHeaders(headers, ["content-type", ...Object.keys(s.headers), ...Object.keys(signature)]),
        body: s.body,
        streamed: streamed && s.body.length > 0,
        signing,
        fate,
        ...(s.challenge === undefined ? {} : { challenge: s.challenge }),
      };
    });

function pick(headers: Record<string, string>, names: string[]): Record<string, string> {
  const values = Object.values(headers);
  return Object.fromEntries(names.map((name, i) => [name, values[i % Math.max(values.length, 1)] ?? ""]));
}

/** Garbage to /hooks/*: known or unknown source, any content type, signature headers full of junk. */
const garbageHookStep: fc.Arbitrary<HttpStep> = fc
  .record({
    source: fc.oneof(
      { weight: 3, arbitrary: fc.oneof(...knownSources.map(sourceSegment)) },
      { weight: 1, arbitrary: unknownSource },
    ),
    query: queryArb,
    contentType: contentTypeArb("any"),
    signature: fc.option(garbageSignatureHeaders, { freq: 4 }),
    body: garbageBody,
    streamed: streamedArb,
    noise: noiseHeaders,
  })
  .map(({ source, query, contentType, signature, body, streamed, noise }) => ({
    transport: "http" as const,
    group: "garbage to /hooks",
    note: `content-type ${contentType.note}, ${signature ? "junk signature headers" : "no signature"}, ${body.length} B body`,
    method: "POST",
    path: withQuery(`/hooks/${source}`, query),
    headers: fitHeaders(
      { ...noise, ...signature, ...(contentType.value === undefined ? {} : { "content-type": contentType.value }) },
      ["content-type"],
    ),
    body,
    streamed: streamed && body.length > 0,
    signing: signature ? ("garbage" as const) : ("missing" as const),
  }));

// ---------------------------------------------------------------- the event API

const authArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(`Bearer ${apiToken}`, `bearer ${apiToken}`, `BEARER   ${apiToken}`, `Bearer\t${apiToken}`)
      .map((value) => ({ value: value as string | undefined, authorized: true })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          undefined,
          "",
          "Bearer",
          "Bearer wrong-token",
          `Bearer ${apiToken}x`,
          `Bearer ${apiToken} extra`,
          `Basic ${Buffer.from(`user:${apiToken}`).toString("base64")}`,
          `Token ${apiToken}`,
          apiToken,
        ),
        headerText(0, 80),
        fc.integer({ min: 1000, max: 8000 }).map((n) => `Bearer ${"t".repeat(n)}`),
      )
      .map((value) => ({ value, authorized: false })),
  },
);

/** Keys are made unique when the request is built, so a rerun never meets an earlier run's key. */
const idempotencyKeyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: headerText(1, 40).map((prefix) => `${prefix}:${randomUUID()}`) },
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.integer({ min: 256, max: 2000 }).map((n) => `key-${randomUUID()}`.padEnd(n, "k")) },
);

const apiSource = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: text(1, 40).filter((s) => !reservedSources.has(s)) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, "", 5, "schedule", "stripe", "svix", "api", "a".repeat(201)) },
  { weight: 1, arbitrary: withNul },
  { weight: 1, arbitrary: illFormed },
);
const apiId = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: eventId.map((id) => `${id}-${randomUUID()}`) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, "", 7, "i".repeat(501)) },
  { weight: 1, arbitrary: withNul },
);
const apiType = fc.oneof(
  { weight: 6, arbitrary: eventType },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, "", 1, null, ["t"], "t".repeat(201)) },
  { weight: 1, arbitrary: withNul },
  { weight: 1, arbitrary: illFormed },
);

/** An event body: the oracle judges it from its bytes by the documented rules. */
const apiBody: fc.Arbitrary<Buffer> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ type: apiType, source: apiSource, id: apiId, payload: fragment, junk: junkOption })
      .map(({ type, source, id, payload, junk }) => {
        const fields = [
          type === undefined ? null : `"type":${J(type)}`,
          source === undefined ? null : `"source":${J(source)}`,
          id === undefined ? null : `"id":${J(id)}`,
          `"payload":${payload.text}`,
          junk ? `"note":"${junkMarker}"` : null,
        ];
        return jsonBytes(`{${fields.filter((f) => f !== null).join(",")}}`, junk);
      }),
  },
  { weight: 2, arbitrary: garbageBody },
  { weight: 1, arbitrary: nonObjectJson.map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: customerArb.map((c) =>
      Buffer.from(`{"type":"charge.succeeded","payload":{"data":{"object":{"customer":${c}}}}}`),
    ),
  },
);

const apiStep = (input: {
  auth: { value: string | undefined; authorized: boolean };
  contentType: ContentTypeChoice;
  key: string | undefined;
  body: Buffer;
  streamed: boolean;
  noise: Record<string, string>;
  note: string;
}): HttpStep => ({
  transport: "http",
  group: "api",
  note: `${input.note}; content-type ${input.contentType.note}, ${input.auth.authorized ? "authorized" : "unauthorized"}`,
  method: "POST",
  path: "/api/events",
  headers: fitHeaders(
    {
      ...input.noise,
      ...(input.auth.value === undefined ? {} : { authorization: input.auth.value }),
      ...(input.key === undefined ? {} : { "idempotency-key": input.key }),
      ...(input.contentType.value === undefined ? {} : { "content-type": input.contentType.value }),
    },
    ["authorization", "idempotency-key", "content-type"],
  ),
  body: input.body,
  streamed: input.streamed && input.body.length > 0,
  authorized: input.auth.authorized,
});

const apiSingle: fc.Arbitrary<HttpStep> = fc
  .record({
    auth: authArb,
    contentType: contentTypeArb("json"),
    key: idempotencyKeyArb,
    body: apiBody,
    streamed: streamedArb,
    noise: noiseHeaders,
  })
  .map((r) => apiStep({ ...r, note: `${r.body.length} B body${r.key === undefined ? "" : ", Idempotency-Key"}` }));

const cleanEvent = fc
  .record({ type: eventType, payload: fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }) })
  .map((event) => Buffer.from(J(event)));
const authorizedJson = {
  auth: { value: `Bearer ${apiToken}`, authorized: true },
  contentType: { value: "application/json", note: "json" },
  streamed: false,
  noise: {},
};

/** The Idempotency-Key rules need two requests in order: a replay, a reuse with another body, a retry after a 400. */
const idempotencyScenario: fc.Arbitrary<Scenario> = fc
  .record({
    kind: fc.constantFrom("replay", "reuse", "retry-after-invalid"),
    first: cleanEvent,
    second: cleanEvent,
    invalid: fc.oneof(
      notJsonBytes,
      nonObjectJson.map((s) => Buffer.from(s)),
    ),
    keyPrefix: headerText(1, 40),
  })
  .map(({ kind, first, second, invalid, keyPrefix }) => {
    const key = `${keyPrefix}:${randomUUID()}`;
    const other = second.equals(first) ? Buffer.concat([second, Buffer.from(" ")]) : second;
    const bodies = kind === "replay" ? [first, first] : kind === "reuse" ? [first, other] : [invalid, first];
    return {
      kind: "idempotency" as const,
      steps: bodies.map((body, i) => apiStep({ ...authorizedJson, key, body, note: `${kind}, request ${i + 1}` })),
    };
  });

/** The same keyed request three times at once: one commits, the others see it in flight (409) or replay it. */
const inFlightScenario: fc.Arbitrary<Scenario> = fc
  .record({ body: cleanEvent, prefix: headerText(1, 20) })
  .map(({ body, prefix }) => {
    const step = apiStep({
      ...authorizedJson,
      key: `${prefix}:${randomUUID()}`,
      body,
      note: "sent three times at once",
    });
    return { kind: "in-flight" as const, steps: [step, step, step] };
  });

/** A provider retrying a delivery: the same signed request twice, the second a duplicate of the first. */
const redeliveryScenario: fc.Arbitrary<Scenario> = fc
  .oneof(...knownSources.map(signedHookStep))
  .filter((step) => step.signing === "valid")
  .map((step) => ({ kind: "redelivery" as const, steps: [step, { ...step, note: `${step.note}; redelivered` }] }));

// ---------------------------------------------------------------- other paths and raw framing

const otherPathStep: fc.Arbitrary<HttpStep> = fc
  .record({
    method: fc.constantFrom("GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "POST"),
    onRoutePath: fc.boolean(),
    routePath: fc.oneof(
      fc.constantFrom(...knownSources).map((s) => `/hooks/${s}`),
      fc.constant("/api/events"),
    ),
    otherPath: fc.oneof(
      fc.constantFrom(
        "/",
        "/hooks",
        "/hooks/stripe/",
        "/hooks/stripe/extra",
        "//hooks/stripe",
        "/hooks//stripe",
        "/HOOKS/stripe",
        "/api",
        "/api/events/1/2",
        "/api/Events",
        "/API/events",
        "/api/eventz",
        "/health/",
        "/hooks.json",
        "/favicon.ico",
      ),
      fc
        .stringMatching(/^\/[a-z0-9._~-]{1,20}(\/[a-z0-9._~-]{0,10})?$/)
        .filter((p) => !/^\/(hooks\/[^/]*|api\/.*|health|healthz|readyz|metrics)$/.test(p)),
    ),
    contentType: contentTypeArb("any"),
    body: garbageBody,
    noise: noiseHeaders,
  })
  .map(({ method, onRoutePath, routePath, otherPath, contentType, body, noise }) => {
    // A route's path with another method, or a path no route has, with any method.
    // GET and HEAD /api/events list events (the read API): those are not another method of that route.
    const otherMethod = method !== "POST" && !(routePath === "/api/events" && (method === "GET" || method === "HEAD"));
    const path = onRoutePath && otherMethod ? routePath : otherPath;
    const bodyless = method === "GET" || method === "HEAD";
    return {
      transport: "http" as const,
      group: "other path",
      note: `content-type ${contentType.note}, ${bodyless ? 0 : body.length} B body`,
      method,
      path,
      headers: fitHeaders(
        { ...noise, ...(contentType.value === undefined ? {} : { "content-type": contentType.value }) },
        [],
      ),
      body: bodyless ? Buffer.alloc(0) : body,
      streamed: false,
    };
  });

/** A source segment the router cannot percent-decode. */
const badUrlStep: fc.Arbitrary<HttpStep> = fc
  .record({ segment: fc.constantFrom("%", "%zz", "%E0%A4%A", "%C0%AF", "stripe%", "%FF", "%D8%00"), body: garbageBody })
  .map(({ segment, body }) => ({
    transport: "http" as const,
    group: "undecodable path",
    note: `segment ${segment}`,
    method: "POST",
    path: `/hooks/${segment}`,
    headers: { "content-type": "application/json" },
    body,
    streamed: false,
  }));

/** Over Node's 16 KiB header limit: refused before any route runs. */
const headerOverflowStep: fc.Arbitrary<HttpStep> = fc
  .record({
    path: fc.constantFrom("/hooks/stripe", "/api/events", "/nowhere"),
    size: fc.integer({ min: 20_000, max: 60_000 }),
  })
  .map(({ path, size }) => ({
    transport: "http" as const,
    group: "headers over Node's limit",
    note: `one ${size}-character header`,
    method: "POST",
    path,
    headers: { "content-type": "application/json", "x-fuzz-huge": "h".repeat(size) },
    body: Buffer.from("{}"),
    streamed: false,
  }));

/** Framing Node's HTTP parser refuses (400) before Fastify sees a request. */
const rawFramings: Record<string, (path: string) => string> = {
  "non-numeric Content-Length": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`,
  "negative Content-Length": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`,
  "fractional Content-Length": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1.5\r\n\r\n{}`,
  "two Content-Lengths": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x`,
  "Content-Length and chunked": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
  "bad chunk size": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
  "unknown transfer coding": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{}`,
  "NUL in a header value": (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nX-Fuzz: a\u0000b\r\nContent-Length: 0\r\n\r\n`,
  "bare CR in a header value": (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nX-Fuzz: a\rb\r\nContent-Length: 0\r\n\r\n`,
  "space in a header name": (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nX Fuzz: a\r\nContent-Length: 0\r\n\r\n`,
  "folded header": (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nX-Fuzz: a\r\n b\r\nContent-Length: 0\r\n\r\n`,
  "no Host": (p) => `POST ${p} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
  "unknown HTTP version": (p) => `POST ${p} HTTP/1.7\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
  "bad method token": (p) => `P@ST ${p} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
  "space in the target": (p) => `POST ${p} x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
  "bare LF line endings": (p) => `POST ${p} HTTP/1.1\nHost: x\nContent-Length: 0\n\n`,
  // The body must be read before any answer on these routes, and it ends early: Fastify's 400.
  "body shorter than Content-Length": (p) =>
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`,
};

const rawStep: fc.Arbitrary<RawStep> = fc
  .record({
    framing: fc.constantFrom(...Object.keys(rawFramings)),
    path: fc.oneof(
      fc.constantFrom(...knownSources).map((s) => `/hooks/${s}`),
      fc.constant("/api/events"),
    ),
  })
  .map(({ framing, path }) => ({
    transport: "raw" as const,
    group: "raw framing",
    note: `${framing} to ${path}`,
    bytes: Buffer.from((rawFramings[framing] as (p: string) => string)(path), "latin1"),
    ...(framing === "body shorter than Content-Length" && path === "/api/events" ? { truncatedBody: true } : {}),
  }));

// ---------------------------------------------------------------- all together

const single = (step: fc.Arbitrary<Step>) => step.map((s): Scenario => ({ kind: "single", steps: [s] }));

export const scenarioArb: fc.Arbitrary<Scenario> = fc.oneof(
  { weight: 40, arbitrary: single(fc.oneof(...knownSources.map(signedHookStep))) },
  { weight: 22, arbitrary: single(garbageHookStep) },
  { weight: 20, arbitrary: single(apiSingle) },
  { weight: 5, arbitrary: single(otherPathStep) },
  { weight: 1, arbitrary: single(badUrlStep) },
  { weight: 3, arbitrary: single(rawStep) },
  { weight: 4, arbitrary: redeliveryScenario },
  { weight: 3, arbitrary: idempotencyScenario },
  { weight: 1, arbitrary: inFlightScenario },
  { weight: 1, arbitrary: single(headerOverflowStep) },
);
