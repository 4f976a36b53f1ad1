/**
 * Any sender that signs its body with an HMAC in a header, described by
 * configuration instead of code: most in-house systems and many smaller SaaS
 * products sign this way, varying only the header, hash, encoding, an optional
 * prefix (`sha256=`) and an optional signed timestamp.
 */
import { ConfigurationError } from "../../../sdk/errors.ts";
import {
  anySignatureMatches,
  bodyDedupKey,
  checkTimestamp,
  type DigestEncoding,
  formParamsToObject,
  type HmacAlgorithm,
  hmac,
  isJsonObject,
  parseBody,
  parseTimestamp,
} from "../hmac.ts";
import type { WebhookProvider, WebhookRequest } from "../webhook-provider.ts";

export interface GenericHmacConfig {
  /** How the provider is named in logs and failures. Default `generic-hmac`. */
  name?: string;
  /** Header carrying the signature, e.g. `X-Signature`. */
  signatureHeader: string;
  algorithm: HmacAlgorithm;
  encoding: DigestEncoding;
  /** Text before the signature in the header, stripped before comparing, e.g. `sha256=`. */
  prefix?: string;
  /** Header carrying a timestamp that is signed with the body and checked against the tolerance. */
  timestampHeader?: string;
  /** Unit of `timestampHeader`. Default `s`. */
  timestampUnit?: "s" | "ms";
  /** Between timestamp and body in the signed payload. Default `.`. */
  timestampSeparator?: string;
  /** Header naming the event type. */
  typeHeader?: string;
  /** Dot-separated path to the event type in the JSON body, e.g. `event.type`. */
  typePath?: string;
  /** Type when neither `typeHeader` nor `typePath` yields one. Default `webhook`. */
  defaultType?: string;
  /** Header carrying the sender's event or delivery id. */
  idHeader?: string;
  /** Dot-separated path to the event id in the JSON body. Without an id, the body's SHA-256 dedupes. */
  idPath?: string;
}

const algorithms: readonly unknown[] = ["sha1", "sha256", "sha512"] satisfies HmacAlgorithm[];
const encodings: readonly unknown[] = ["hex", "base64"] satisfies DigestEncoding[];
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Every problem in the config at once, so one edit fixes them all. Checks runtime types too: configs often come from JSON. */
function configProblems(config: GenericHmacConfig): string[] {
  const problems: string[] = [];
  const optionalString = (field: keyof GenericHmacConfig) => {
    const value = config[field];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      problems.push(`${field} must be a non-empty string`);
    }
  };
  const header = (field: keyof GenericHmacConfig, required: boolean) => {
    const value = config[field];
    if (value === undefined && !required) return;
    if (typeof value !== "string" || !headerName.test(value)) {
      problems.push(`${field} must be an HTTP header name, got ${JSON.stringify(value)}`);
    }
  };
  const path = (field: "typePath" | "idPath") => {
    const value = config[field];
    if (value !== undefined && (typeof value !== "string" || value.split(".").some((segment) => segment === ""))) {
      problems.push(`${field} must be a dot-separated path like "data.id", got ${JSON.stringify(value)}`);
    }
  };

  optionalString("name");
  header("signatureHeader", true);
  if (!algorithms.includes(config.algorithm)) {
    problems.push(`algorithm must be one of ${algorithms.join(", ")}, got ${JSON.stringify(config.algorithm)}`);
  }
  if (!encodings.includes(config.encoding)) {
    problems.push(`encoding must be one of ${encodings.join(", ")}, got ${JSON.stringify(config.encoding)}`);
  }
  optionalString("prefix");
  header("timestampHeader", false);
  if (config.timestampHeader === undefined) {
    if (config.timestampUnit !== undefined) problems.push("timestampUnit needs timestampHeader");
    if (config.timestampSeparator !== undefined) problems.push("timestampSeparator needs timestampHeader");
  }
  if (config.timestampUnit !== undefined && config.timestampUnit !== "s" && config.timestampUnit !== "ms") {
    problems.push(`timestampUnit must be "s" or "ms", got ${JSON.stringify(config.timestampUnit)}`);
  }
  if (config.timestampSeparator !== undefined && typeof config.timestampSeparator !== "string") {
    problems.push("timestampSeparator must be a string");
  }
  header("typeHeader", false);
  path("typePath");
  if (config.typeHeader !== undefined && config.typePath !== undefined) {
    problems.push("set typeHeader or typePath, not both");
  }
  optionalString("defaultType");
  header("idHeader", false);
  path("idPath");
  if (config.idHeader !== undefined && config.idPath !== undefined) problems.push("set idHeader or idPath, not both");
  return problems;
}

/** A string or number at a dot-separated path of a JSON object, as a string. */
function stringAtPath(value: unknown, path: string): string | undefined {
  let current = value;
  for (const segment of path.split(".")) {
    if (!isJsonObject(current)) return undefined;
    current = current[segment];
  }
  if (typeof current === "string" && current !== "") return current;
  if (typeof current === "number" && Number.isFinite(current)) return String(current);
  return undefined;
}

export function genericHmacProvider(config: GenericHmacConfig): WebhookProvider {
  const problems = configProblems(config);
  if (problems.length > 0) {
    throw new ConfigurationError(`generic HMAC webhook config is invalid: ${problems.join("; ")}`);
  }
  const signatureHeader = config.signatureHeader.toLowerCase();
  const timestampHeader = config.timestampHeader?.toLowerCase();
  const prefix = config.prefix ?? "";
  const idFromHeaders = (request: WebhookRequest) =>
    (config.idHeader && request.headers[config.idHeader.toLowerCase()]) || null;

  return {
    name: config.name ?? "generic-hmac",

    verify(request, options) {
      const header = request.headers[signatureHeader];
      if (!header) {
        return { ok: false, check: "missing-header", message: `${config.signatureHeader} header is missing` };
      }
      if (!header.startsWith(prefix)) {
        return {
          ok: false,
          check: "malformed-header",
          message: `${config.signatureHeader} does not start with ${prefix}`,
        };
      }
      const signature = header.slice(prefix.length);
      // Hex is case-insensitive and some senders use upper case; the digest is lower case.
      const received = config.encoding === "hex" ? signature.toLowerCase() : signature;

      let signedPrefix = "";
      let timestamp: number | null = null;
      if (timestampHeader !== undefined) {
        const value = request.headers[timestampHeader];
        if (!value) {
          return { ok: false, check: "missing-header", message: `${config.timestampHeader} header is missing` };
        }
        timestamp = parseTimestamp(value);
        if (timestamp === null) {
          return { ok: false, check: "malformed-header", message: `${config.timestampHeader} is not a unix timestamp` };
        }
        signedPrefix = `${value}${config.timestampSeparator ?? "."}`;
      }

      const expected = options.secrets.map((secret) =>
        hmac(config.algorithm, secret, [signedPrefix, request.rawBody], config.encoding),
      );
      if (!anySignatureMatches(expected, [received])) {
        const what = timestamp === null ? "the body" : "the timestamp and body";
        return { ok: false, check: "signature", message: `${config.signatureHeader} does not match ${what}` };
      }
      if (timestamp === null) return { ok: true };
      return (
        checkTimestamp(`${config.timestampHeader}`, timestamp, config.timestampUnit ?? "s", options) ?? { ok: true }
      );
    },

    parse(request) {
      const body = parseBody(request);
      const payload = body.kind === "form" ? formParamsToObject(body.params) : body.value;
      const type =
        (config.typeHeader && request.headers[config.typeHeader.toLowerCase()]) ||
        (config.typePath && stringAtPath(payload, config.typePath)) ||
        config.defaultType ||
        "webhook";
      const dedupKey =
        idFromHeaders(request) ||
        (config.idPath && stringAtPath(payload, config.idPath)) ||
        bodyDedupKey(request.rawBody);
      return { events: [{ type, dedupKey, payload, ...(body.kind === "json" ? { payloadJson: body.text } : {}) }] };
    },

    deliveryIdFromHeaders: idFromHeaders,
  };
}
