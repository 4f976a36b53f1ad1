/**
 * What every provider module shares: computing and comparing HMAC signatures,
 * the timestamp window, and reading a verified body (JSON or form-encoded) plus
 * the body hash used as a dedup key when a provider sends no event id.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import {
  defaultToleranceSec,
  UnparseableBodyError,
  type VerifyFailure,
  type VerifyOptions,
  type WebhookRequest,
} from "./webhook-provider.ts";

export type HmacAlgorithm = "sha1" | "sha256" | "sha512";
export type DigestEncoding = "hex" | "base64";

/** HMAC over the parts in order. Buffers are hashed as the bytes that arrived, never decoded to text and back. */
export function hmac(
  algorithm: HmacAlgorithm,
  key: string | Buffer,
  parts: readonly (string | Buffer)[],
  encoding: DigestEncoding,
): string {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest(encoding);
}

/** Constant-time string equality; strings of different byte lengths are unequal (a length says nothing secret: digests have a fixed one). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * True when any received signature equals any expected one (one expected
 * signature per active secret, sometimes per URL spelling too). Every pair is
 * compared, without stopping at a match, so timing does not tell which secret signed.
 */
export function anySignatureMatches(expected: readonly string[], received: readonly string[]): boolean {
  let matched = false;
  for (const candidate of expected) {
    for (const signature of received) matched = constantTimeEqual(candidate, signature) || matched;
  }
  return matched;
}

/** A numeric timestamp header, or null when it is anything but plain digits (no sign, no exponent, no spaces). */
export function parseTimestamp(value: string): number | null {
  return /^\d{1,16}$/.test(value) ? Number(value) : null;
}

/**
 * Fails when the timestamp is further than the tolerance from `now`, into the
 * past (a replay) or the future (a forged or skewed clock). Second-resolution
 * timestamps are compared against whole seconds of `now`, as the providers' own libraries do.
 */
export function checkTimestamp(
  label: string,
  timestamp: number,
  unit: "s" | "ms",
  options: VerifyOptions,
): VerifyFailure | null {
  const toleranceSec = options.toleranceSec ?? defaultToleranceSec;
  const skewMs = unit === "s" ? (Math.floor(options.now / 1000) - timestamp) * 1000 : options.now - timestamp;
  if (Math.abs(skewMs) <= toleranceSec * 1000) return null;
  const seconds = Math.ceil(Math.abs(skewMs) / 1000);
  const direction = skewMs > 0 ? "in the past" : "in the future";
  return {
    ok: false,
    check: "timestamp",
    message: `${label} is ${seconds} s ${direction}; tolerance is ±${toleranceSec} s`,
  };
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The dedup key for a request whose provider sends no event id: an identical redelivery hashes the same. */
export function bodyDedupKey(rawBody: Buffer): string {
  return `sha256:${sha256Hex(rawBody)}`;
}

/** Form fields in arrival order; a repeated name keeps every value. */
export type FormParams = Map<string, string[]>;

/** A JSON body keeps the text it was parsed from: the event stores that text as its payload (see InboundEvent). */
export type ParsedBody = { kind: "json"; value: unknown; text: string } | { kind: "form"; params: FormParams };

/** The media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(request: WebhookRequest): string {
  return (request.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

export function isFormEncoded(request: WebhookRequest): boolean {
  return mediaType(request) === "application/x-www-form-urlencoded";
}

/** Reads a form-encoded body as form fields; anything else must be JSON, whatever its Content-Type says. */
export function parseBody(request: WebhookRequest): ParsedBody {
  if (isFormEncoded(request)) return { kind: "form", params: parseFormParams(request.rawBody.toString("utf8")) };
  return { kind: "json", ...parseJsonBody(request.rawBody, "body") };
}

export function parseJson(text: string | Buffer, what: string): unknown {
  return parseJsonBody(text, what).value;
}

/** The value and the text it was parsed from (a body decoded as UTF-8), which stores it without serialising it again. */
export function parseJsonBody(raw: string | Buffer, what: string): { value: unknown; text: string } {
  const text = raw.toString();
  try {
    return { value: JSON.parse(text), text };
  } catch (error) {
    throw new UnparseableBodyError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

export function parseFormParams(encoded: string): FormParams {
  const params: FormParams = new Map();
  for (const [name, value] of new URLSearchParams(encoded)) {
    const values = params.get(name);
    if (values) values.push(value);
    else params.set(name, [value]);
  }
  return params;
}

/** Form fields as a JSON-able object: a single value as a string, a repeated one as an array. */
export function formParamsToObject(params: FormParams): Record<string, string | string[]> {
  // Object.fromEntries defines own properties, so a field named `__proto__` stays a plain field.
  return Object.fromEntries(
    [...params].map(([name, values]) => [name, values.length > 1 ? values : (values[0] ?? "")]),
  );
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A required string field of a provider's payload; its absence means the body is not what the provider sends. */
export function requireString(object: Record<string, unknown>, field: string, what: string): string {
  const value = object[field];
  if (typeof value !== "string" || value === "") throw new UnparseableBodyError(`${what} has no string "${field}"`);
  return value;
}
