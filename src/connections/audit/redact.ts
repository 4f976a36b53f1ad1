/**
 * Keeps secrets out of the audit trail and out of error messages, two ways: by name (headers, query
 * parameters and body fields that carry credentials, whoever's they are) and by value (the
 * connection's own credentials, wherever they turn up, raw or encoded). Redact first, truncate after:
 * a secret cut in half by truncation would no longer be recognised.
 */

export const redactedMarker = "[REDACTED]";

/**
 * Shorter values are not looked for: a 4-character password would turn every "true" or "2024" in a
 * body into the marker, and a value that short is not protected by hiding it anyway.
 */
const minSecretLength = 6;

const secretHeaderNames = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);
const secretHeaderWords = ["key", "token", "secret", "password", "signature", "auth", "session", "credential"];
/** Named like secrets but carrying none, and worth seeing when a request fails. */
const publicHeaderNames = new Set([
  "idempotency-key",
  "x-idempotency-key",
  "www-authenticate",
  "proxy-authenticate",
  "access-control-allow-credentials",
  "x-oauth-scopes",
  "x-accepted-oauth-scopes",
]);

const secretParamNames = [
  "api_key",
  "apikey",
  "key",
  "token",
  "access_token",
  "refresh_token",
  "client_secret",
  "secret",
  "password",
  "signature",
  "sig",
  "code",
  "code_verifier",
];

const secretFieldNames = [
  "password",
  "secret",
  "client_secret",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "api_key",
  "apikey",
  "authorization",
  "code_verifier",
  "private_key",
];

type HeaderMap = Record<string, string | string[] | undefined>;

const integerLike = /^\d+$/;

interface HeaderVerdict {
  secret: boolean;
  /** The name as a JSON key, `"name":`. */
  key: string;
  /** The value last seen under this name, and its redacted JSON. */
  lastText: string | undefined;
  lastJson: string;
}

const redactedJson = JSON.stringify(redactedMarker);

/** Header names whose verdict a Redactor remembers. */
const maxHeaderVerdicts = 256;

/** What to hide beyond the built-in names: a connection's own header, parameter and field names, and its credentials. */
export interface RedactionRules {
  /** More header names whose values are hidden. */
  extraHeaderNames?: readonly string[];
  /** More query parameter names removed from URLs. */
  secretParams?: readonly string[];
  /** More JSON/form field names whose values are hidden in bodies. */
  extraFields?: readonly string[];
  /** Values hidden wherever they appear, raw or encoded (a connection's credentials). */
  secretValues?: readonly string[];
}

/**
 * The redaction of one set of rules, compiled once: the secret values' encoded forms and their regular
 * expressions, and the name sets. A connection keeps one per version of its credentials, since every
 * request it audits is redacted five ways (URL, both header sets, both bodies) with the same rules.
 */
export class Redactor {
  readonly #secrets: SecretFinder;
  readonly #extraHeaderNames: ReadonlySet<string>;
  readonly #isSecretParam: (name: string) => boolean;
  readonly #isSecretField: (name: string) => boolean;
  readonly #secretFieldKey: RegExp;
  /** Header name (as given) → whether its value is hidden: the same few names come with every request. */
  readonly #headerVerdicts = new Map<string, HeaderVerdict>();

  constructor(rules: RedactionRules = {}) {
    this.#secrets = secretFinder(rules.secretValues ?? []);
    this.#extraHeaderNames = new Set((rules.extraHeaderNames ?? []).map((name) => name.toLowerCase()));
    this.#isSecretParam = nameMatcher(secretParamNames, rules.secretParams);
    this.#isSecretField = nameMatcher(secretFieldNames, rules.extraFields);
    this.#secretFieldKey = fieldKeyPattern([...secretFieldNames, ...(rules.extraFields ?? [])]);
  }

  /**
   * Header values by name: Authorization, Proxy-Authorization, cookies, anything named like a key,
   * token, secret, password, signature, auth, session or credential, and the extra names become the
   * marker. Repeated headers are joined with ", ". The rest keep their value with the secret values hidden.
   */
  headers(headers: HeaderMap): Record<string, string> {
    const entries: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      const text = Array.isArray(value) ? value.join(", ") : value;
      entries.push([name, this.#isSecretHeader(name) ? redactedMarker : this.#secrets.redact(text)]);
    }
    // fromEntries defines own properties, so a header named "__proto__" stays a header.
    return Object.fromEntries(entries);
  }

  /**
   * `JSON.stringify(this.headers(headers))`, written out directly: building the object and serialising it cost
   * the audit record of a request about 4 µs per header set, most of it in making an object of entries.
   */
  headersJson(headers: HeaderMap): string {
    let json = "";
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined) continue;
      // An integer-like name would come first in the object's own order: that rare set is built as an object.
      if (integerLike.test(name)) return JSON.stringify(this.headers(headers));
      const verdict = this.#headerVerdict(name);
      json += `${json === "" ? "" : ","}${verdict.key}${this.#headerValueJson(verdict, value)}`;
    }
    return `{${json}}`;
  }

  /** The value as JSON, redacted; most headers (content type, connection) repeat their last value, kept with the name. */
  #headerValueJson(verdict: HeaderVerdict, value: string | string[]): string {
    if (verdict.secret) return redactedJson;
    const text = Array.isArray(value) ? value.join(", ") : value;
    if (verdict.lastText !== text) {
      verdict.lastJson = JSON.stringify(this.#secrets.redact(text));
      verdict.lastText = text;
    }
    return verdict.lastJson;
  }

  #isSecretHeader(name: string): boolean {
    return this.#headerVerdict(name).secret;
  }

  /** Whether the header's value is hidden, and its name as a JSON key (`"name":`). */
  #headerVerdict(name: string): HeaderVerdict {
    let verdict = this.#headerVerdicts.get(name);
    if (verdict === undefined) {
      const secret = isSecretHeader(name.toLowerCase(), this.#extraHeaderNames);
      verdict = { secret, key: `${JSON.stringify(name)}:`, lastText: undefined, lastJson: "" };
      // Bounded: an API that names headers after ids must not grow it without end.
      if (this.#headerVerdicts.size < maxHeaderVerdicts) this.#headerVerdicts.set(name, verdict);
    }
    return verdict;
  }

  /**
   * A URL fit to show: the user:password part is dropped, secret query parameters (api_key, token,
   * client_secret, code, … and the extra ones) are removed altogether, other parameters are kept as
   * they were encoded, and the secret values are hidden wherever they appear, also percent-encoded.
   */
  url(url: string | URL): string {
    const secrets = this.#secrets;
    const isSecretParam = this.#isSecretParam;
    const text = (typeof url === "string" ? url : url.href).replace(/^((?:[a-z][a-z0-9+.-]*:)?\/\/)[^/?#]*@/i, "$1");

    const hashAt = text.indexOf("#");
    const beforeHash = hashAt < 0 ? text : text.slice(0, hashAt);
    const queryAt = beforeHash.indexOf("?");
    const path = queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt);

    // No escape and no secret value in sight (the usual URL): only query parameters' names can need hiding.
    const plain = !/[%+]/.test(text) && !secrets.foundIn(text);
    let result = plain
      ? path
      : path
          .split("/")
          .map((segment) => {
            const redacted = secrets.redact(segment);
            // Still there once decoded: encoded in a way `redact` does not recognise, so the segment goes.
            return secrets.revealedIn(redacted) ? redactedMarker : redacted;
          })
          .join("/");
    const query = queryAt < 0 ? "" : redactPairs(beforeHash.slice(queryAt + 1), isSecretParam, secrets, "remove");
    if (query) result += `?${query}`;
    // Fragments are not sent, but OAuth's implicit flow puts tokens there (`#access_token=…`).
    const fragment = hashAt < 0 ? "" : redactPairs(text.slice(hashAt + 1), isSecretParam, secrets, "remove");
    if (fragment) result += `#${fragment}`;
    if (plain) return result;

    const redacted = secrets.redact(result);
    if (!secrets.revealedIn(redacted)) return redacted;
    // A secret spread over several components (a "?" or "&" in it, left unencoded): keep only where the request went.
    const origin = /^(?:[a-z][a-z0-9+.-]*:)?\/\/[^/?#]*/i.exec(text)?.[0] ?? "";
    return secrets.revealedIn(origin) ? redactedMarker : `${origin}/${redactedMarker}`;
  }

  /**
   * A request or response body fit to show. JSON (by content type, or because it parses as an object
   * or array) has the values of secret-named fields at any depth replaced, and is re-serialised only
   * if something was hidden, so bodies with nothing secret keep their formatting and large numbers.
   * Form bodies have secret-named fields replaced. Then, whatever the type, the secret values are hidden.
   */
  body(body: string, contentType = "", parsed?: object): string {
    const mediaType = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
    let result = body;
    if (mediaType === "application/x-www-form-urlencoded") {
      result = redactPairs(body, this.#isSecretField, this.#secrets, "replace");
    } else if (/[/+]json$/.test(mediaType) || /^\s*[[{]/.test(body)) {
      // Its text was just searched for every form of the secret values: nothing is left to replace.
      if (holdsNothingToHide(body, this.#secretFieldKey, this.#secrets)) return body;
      result = redactJson(body, this.#isSecretField, this.#secrets, parsed);
    }
    return this.#secrets.redact(result);
  }

  /**
   * A parsed JSON value fit to show: secret-named fields at any depth and the secret values hidden, as `body` hides
   * them in its text. Copy on write: a value with nothing to hide is returned as it was given, not copied.
   */
  value(value: unknown): unknown {
    return redactJsonValue(value, this.#isSecretField, this.#secrets, { changed: false });
  }

  /** The secret values hidden in any text (an error message, a log line). */
  text(text: string): string {
    return this.#secrets.redact(text);
  }

  /**
   * What `truncateBody(this.body(text, type, parsed), limitBytes)` gives for a large JSON body, worked out from its
   * UTF-8 bytes (without a BOM) and its parsed value without decoding the whole of it, when nothing in it is to be
   * hidden: no field named like a secret, no secret value in a field, a name or the bytes. Undefined otherwise, and
   * for a body within the limit: the caller then redacts its text as usual.
   */
  truncatedJson(bytes: Buffer, parsed: object, limitBytes: number): string | undefined {
    if (!(Number.isFinite(limitBytes) && limitBytes >= 0) || bytes.length <= limitBytes) return undefined;
    if (!hidesNothing(parsed, this.#isSecretField, this.#secrets)) return undefined;
    for (const form of this.#secrets.forms) if (bytes.includes(form)) return undefined;
    // Back to the start of the character the limit falls in (UTF-8 continuation bytes are 10xxxxxx).
    let end = Math.floor(limitBytes);
    while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end -= 1;
    return `${bytes.toString("utf8", 0, end)}…[truncated, ${bytes.length} bytes total]`;
  }
}

function isSecretHeader(name: string, extraNames: ReadonlySet<string>): boolean {
  if (extraNames.has(name) || secretHeaderNames.has(name)) return true;
  if (publicHeaderNames.has(name)) return false;
  return secretHeaderWords.some((word) => name.includes(word));
}

/** `Redactor.headers` for one call. */
export function redactHeaders(
  headers: HeaderMap,
  options: { extraNames?: readonly string[]; secretValues?: readonly string[] } = {},
): Record<string, string> {
  return new Redactor({ extraHeaderNames: options.extraNames ?? [], secretValues: options.secretValues ?? [] }).headers(
    headers,
  );
}

/** `Redactor.url` for one call. */
export function redactUrl(
  url: string | URL,
  options: { secretParams?: readonly string[]; secretValues?: readonly string[] } = {},
): string {
  return new Redactor({ secretParams: options.secretParams ?? [], secretValues: options.secretValues ?? [] }).url(url);
}

/** `Redactor.body` for one call. */
export function redactBody(
  body: string,
  options: {
    contentType?: string;
    extraFields?: readonly string[];
    secretValues?: readonly string[];
    /** `body` already parsed (a response the client read as JSON): not parsed a second time. */
    parsed?: object;
  } = {},
): string {
  return new Redactor({ extraFields: options.extraFields ?? [], secretValues: options.secretValues ?? [] }).body(
    body,
    options.contentType,
    options.parsed,
  );
}

/**
 * Every occurrence of each secret value (of at least 6 characters), longest first, as written and in
 * the encodings it travels in: percent-encoded (`encodeURIComponent`), form-encoded and JSON-escaped.
 * Values derived from a pair, like an HTTP Basic credential, must be added by the caller (`basicAuthSecret`).
 */
export function redactSecrets(text: string, secretValues: readonly string[]): string {
  return secretFinder(secretValues).redact(text);
}

/** The base64 credential of `Authorization: Basic …`, to add to `secretValues`. */
export function basicAuthSecret(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, "utf8").toString("base64");
}

/** `Redactor.truncatedJson` for one call. */
export function truncateUnredactedJson(
  bytes: Buffer,
  parsed: object,
  options: { extraFields?: string[]; secretValues?: string[]; limitBytes: number },
): string | undefined {
  return new Redactor({
    extraFields: options.extraFields ?? [],
    secretValues: options.secretValues ?? [],
  }).truncatedJson(bytes, parsed, options.limitBytes);
}

/**
 * At most `limitBytes` of UTF-8, cut at a character boundary (so the result is a prefix of the text
 * that encodes cleanly), followed by "…[truncated, N bytes total]". Text within the limit is unchanged.
 */
export function truncateBody(text: string, limitBytes: number): string {
  const totalBytes = Buffer.byteLength(text, "utf8");
  if (totalBytes <= limitBytes) return text;
  const limit = Number.isFinite(limitBytes) ? Math.max(0, Math.floor(limitBytes)) : 0;
  let bytes = 0;
  let end = 0;
  // By UTF-16 code unit, allocating nothing: a surrogate pair is never split (its 4 bytes go together), and a
  // lone surrogate counts the 3 bytes of the replacement character it is encoded as.
  while (end < text.length) {
    const unit = text.charCodeAt(end);
    const pair = unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(end + 1) & 0xfc00) === 0xdc00;
    const size = unit < 0x80 ? 1 : unit < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + size > limit) break;
    bytes += size;
    end += pair ? 2 : 1;
  }
  // Copied, not sliced: V8 makes a long slice a view of the whole text, and an audit row waiting for its batch
  // would keep the whole answer alive (UTF-16 in and out, so a lone surrogate stays as it was).
  const kept = Buffer.from(text.slice(0, end), "utf16le").toString("utf16le");
  return `${kept}…[truncated, ${totalBytes} bytes total]`;
}

// ------------------------------------------------------------------------------------------ names

/** Case-insensitive, and blind to `_` and `-`, so `accessToken`, `access_token` and `Access-Token` all match. */
function nameMatcher(builtIn: readonly string[], extra: readonly string[] = []): (name: string) => boolean {
  const normalise = (name: string) => name.toLowerCase().replace(/[-_]/g, "");
  const names = new Set([...builtIn, ...extra].map(normalise));
  // Bodies repeat the same few field names: each name's verdict is worked out once (bounded, for bodies whose
  // field names are data).
  const verdicts = new Map<string, boolean>();
  return (name) => {
    let verdict = verdicts.get(name);
    if (verdict === undefined) {
      verdict = names.has(normalise(name));
      if (verdicts.size >= 4096) verdicts.clear();
      verdicts.set(name, verdict);
    }
    return verdict;
  };
}

/**
 * `a=1&b=2` pairs (query strings, fragments, form bodies), each kept as it was encoded unless its
 * name is secret (then removed or its value replaced) or it decodes to something holding a secret
 * value (then its value is replaced: the encoded form may be one `redact` does not recognise).
 */
function redactPairs(
  text: string,
  isSecretName: (name: string) => boolean,
  secrets: SecretFinder,
  secretNamed: "remove" | "replace",
): string {
  const kept: string[] = [];
  for (const pair of text.split("&")) {
    const equals = pair.indexOf("=");
    const rawName = equals < 0 ? pair : pair.slice(0, equals);
    const rawValue = equals < 0 ? "" : pair.slice(equals + 1);
    const secretName = isSecretName(formDecode(rawName)) || isSecretName(percentDecode(rawName));
    if (secretName && secretNamed === "remove") continue;
    if (secrets.revealedIn(rawName)) kept.push(redactedMarker);
    else if (secretName || secrets.revealedIn(rawValue)) kept.push(`${rawName}=${redactedMarker}`);
    else kept.push(pair);
  }
  return kept.join("&");
}

// ------------------------------------------------------------------------------------------ JSON

function redactJson(
  body: string,
  isSecretField: (name: string) => boolean,
  secrets: SecretFinder,
  parsed: object | undefined,
): string {
  try {
    const state = { changed: false };
    const redacted = redactJsonValue(parsed ?? JSON.parse(body), isSecretField, secrets, state);
    return state.changed ? JSON.stringify(redacted) : body;
  } catch {
    // Not JSON after all, truncated, or nested too deep to walk: hide what can be found in the text.
    return redactJsonText(body, isSecretField);
  }
}

/**
 * The value with secret-named fields and secret values hidden. Copy on write: a part with nothing to hide is
 * the given part itself, so a large answer with nothing secret in it is walked without being copied.
 */
function redactJsonValue(
  value: unknown,
  isSecretField: (name: string) => boolean,
  secrets: SecretFinder,
  state: { changed: boolean },
): unknown {
  if (typeof value === "string") {
    const redacted = secrets.redact(value);
    if (redacted !== value) state.changed = true;
    return redacted;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, index) => {
      const redacted = redactJsonValue(item, isSecretField, secrets, state);
      if (copy === undefined && redacted !== item) copy = value.slice(0, index);
      copy?.push(redacted);
    });
    return copy ?? value;
  }
  if (value === null || typeof value !== "object") return value;
  let entries: [string, unknown][] | undefined;
  const keys = Object.keys(value);
  keys.forEach((key, index) => {
    const item = (value as Record<string, unknown>)[key];
    const redactedKey = secrets.redact(key);
    let redacted: unknown;
    if (isSecretField(key)) {
      // Marked changed even for null: re-serialising also drops an earlier duplicate of the field.
      state.changed = true;
      redacted = item === null ? null : redactedMarker;
    } else {
      redacted = redactJsonValue(item, isSecretField, secrets, state);
    }
    if (redactedKey !== key) state.changed = true;
    if (entries === undefined && (redactedKey !== key || redacted !== item)) {
      entries = keys
        .slice(0, index)
        .map((earlier): [string, unknown] => [earlier, (value as Record<string, unknown>)[earlier]]);
    }
    entries?.push([redactedKey, redacted]);
  });
  // fromEntries defines own properties, so a field named "__proto__" stays a field.
  return entries === undefined ? value : Object.fromEntries(entries);
}

/**
 * True when `redactJsonValue` would change nothing in the value: no field named like a secret, no secret value in a
 * name or a string. Walked without allocating (no copy, no key arrays): a listed page of a thousand records is
 * checked at the cost of reading it.
 */
function hidesNothing(value: unknown, isSecretField: (name: string) => boolean, secrets: SecretFinder): boolean {
  if (typeof value === "string") return !secrets.foundIn(value);
  if (value === null || typeof value !== "object") return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!hidesNothing(item, isSecretField, secrets)) return false;
    return true;
  }
  // Parsed JSON: own enumerable fields only, which for…in walks without making an array of them.
  for (const key in value) {
    if (isSecretField(key) || secrets.foundIn(key)) return false;
    if (!hidesNothing((value as Record<string, unknown>)[key], isSecretField, secrets)) return false;
  }
  return true;
}

/**
 * Most bodies hold no secret: seen from the text, that costs a fraction of parsing and walking them. In ASCII text
 * without a backslash every string is written as itself, so a secret value shows in one of the forms the finder
 * knows, and a secret field as `"name":` in the spelling `secretFieldKey` looks for (a string value that merely
 * looks like one only sends the body down the full walk).
 */
function holdsNothingToHide(body: string, secretFieldKey: RegExp, secrets: SecretFinder): boolean {
  return isPlainAscii(body) && !secrets.foundIn(body) && !secretFieldKey.test(body);
}

/**
 * No backslash and nothing outside ASCII (every character above U+007F takes more than one byte in UTF-8). A tenth
 * of what the regular expression `/[\\\u0080-\uffff]/` costs on a kilobyte.
 */
function isPlainAscii(text: string): boolean {
  return !text.includes("\\") && Buffer.byteLength(text, "utf8") === text.length;
}

/**
 * A JSON key with one of `names` as nameMatcher compares them: in any case, with `-` and `_` anywhere (ASCII text).
 * Each letter is a class of its two cases rather than the `i` flag: a third faster on a kilobyte.
 */
function fieldKeyPattern(names: readonly string[]): RegExp {
  const spellings = names.map((name) => [...name.toLowerCase().replace(/[-_]/g, "")].map(eitherCase).join("[-_]*"));
  return new RegExp(`"[-_]*(?:${spellings.join("|")})[-_]*"\\s*:`);
}

function eitherCase(char: string): string {
  const upper = char.toUpperCase();
  return upper !== char && upper.length === 1 ? `[${escapeRegExp(char)}${escapeRegExp(upper)}]` : escapeRegExp(char);
}

/** `"name": "value"` pairs in text that does not parse, including a value cut off at the end. */
function redactJsonText(text: string, isSecretField: (name: string) => boolean): string {
  return text.replace(/"((?:[^"\\]|\\.)*)"(\s*:\s*)"(?:[^"\\]|\\.)*(?:"|\\?$)/g, (pair, name: string, colon: string) =>
    isSecretField(unescapeJson(name)) ? `"${name}"${colon}"${redactedMarker}"` : pair,
  );
}

function unescapeJson(text: string): string {
  try {
    return JSON.parse(`"${text}"`) as string;
  } catch {
    return text;
  }
}

// ------------------------------------------------------------------------------------------ values

interface SecretFinder {
  /** The secret values in every form they are looked for in. */
  readonly forms: ReadonlySet<string>;
  redact(text: string): string;
  /** Whether the text, as written, holds a secret value in one of its encoded forms. */
  foundIn(text: string): boolean;
  /** Whether the text, as written, percent-decoded or form-decoded, holds a secret value. */
  revealedIn(text: string): boolean;
}

/** Marker boundaries can line up into a new occurrence (a secret ending in "D]"); a few passes settle it. */
const maxRedactionPasses = 4;

/** Each secret value (of at least `minSecretLength`) as written and in the encodings it travels in. */
function secretForms(secretValues: readonly string[]): Set<string> {
  const forms = new Set<string>();
  for (const secret of secretValues) {
    if (typeof secret !== "string" || secret.length < minSecretLength) continue;
    for (const form of encodedForms(secret)) {
      // A value inside the marker would be "revealed" by every redaction; no credential looks like that.
      if (!redactedMarker.includes(form)) forms.add(form);
    }
  }
  return forms;
}

function secretFinder(secretValues: readonly string[]): SecretFinder {
  const forms = secretForms(secretValues);
  if (forms.size === 0) return { forms, redact: (text) => text, foundIn: () => false, revealedIn: () => false };
  const alternatives = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const replacer = new RegExp(alternatives.join("|"), "g");
  const finder = new RegExp(alternatives.join("|"));
  return {
    forms,
    redact(text) {
      let result = text;
      for (let pass = 0; pass < maxRedactionPasses; pass++) {
        const next = result.replace(replacer, redactedMarker);
        if (next === result) return result;
        result = next;
      }
      return finder.test(result) ? redactedMarker : result;
    },
    foundIn(text) {
      return finder.test(text);
    },
    revealedIn(text) {
      return finder.test(text) || finder.test(percentDecode(text)) || finder.test(formDecode(text));
    },
  };
}

function encodedForms(secret: string): string[] {
  const forms = [secret, JSON.stringify(secret).slice(1, -1), new URLSearchParams([["", secret]]).toString().slice(1)];
  try {
    forms.push(encodeURIComponent(secret));
  } catch {
    // A lone surrogate cannot be percent-encoded, so it cannot travel that way either.
  }
  return forms;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Never throws: runs of escapes are decoded as UTF-8, and bytes that are not valid UTF-8 become U+FFFD. */
function percentDecode(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => Buffer.from(run.replaceAll("%", ""), "hex").toString("utf8"));
}

function formDecode(text: string): string {
  return percentDecode(text.replaceAll("+", " "));
}
