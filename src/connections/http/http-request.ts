import type { FormData } from "undici";
import type { RequestOptions } from "../../sdk/connection-client.ts";
import { NonRetryableError } from "../../sdk/errors.ts";

/** A request ready to send: URL resolved, body encoded, headers merged (names lower-case). */
export interface PreparedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | Uint8Array | FormData | undefined;
  /** Text of the body for the audit trail (null for none, a placeholder for multipart). */
  auditBody: string | null;
}

/** What every request of a connection starts from, worked out once: its base URL's parts and default headers. */
export interface RequestBase {
  origin: string;
  /** The base URL's path without its trailing slash ("" for the root). */
  pathPrefix: string;
  /** Names lower-case. */
  headers: Readonly<Record<string, string>>;
}

export function requestBase(baseUrl: URL, defaultHeaders: Record<string, string>): RequestBase {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaultHeaders)) headers[name.toLowerCase()] = value;
  return { origin: baseUrl.origin, pathPrefix: baseUrl.pathname.replace(/\/$/, ""), headers };
}

export function prepareRequest(base: RequestBase, options: RequestOptions): PreparedRequest {
  const method = (options.method ?? "GET").toUpperCase();
  const url = resolveUrl(base, options.path);
  if (options.query) {
    for (const [name, value] of Object.entries(options.query)) {
      if (value !== undefined) url.searchParams.append(name, String(value));
    }
  }
  const headers: Record<string, string> = { ...base.headers };
  if (options.headers) {
    for (const [name, value] of Object.entries(options.headers)) headers[name.toLowerCase()] = value;
  }
  const bodies =
    Number(options.json !== undefined) +
    Number(options.form !== undefined) +
    Number(options.multipart !== undefined) +
    Number(options.body !== undefined);
  if (bodies > 1) {
    const given = (["json", "form", "multipart", "body"] as const).filter((name) => options[name] !== undefined);
    throw new NonRetryableError(`a request takes one body, but got ${given.join(" and ")}; pass only one`);
  }
  const encoded = encodeBody(options, headers);
  return { method, url, headers, body: encoded.body, auditBody: encoded.auditBody };
}

const absoluteUrl = /^[a-z][a-z0-9+.-]*:\/\//i;

function resolveUrl(base: RequestBase, path: string): URL {
  let url: URL;
  if (absoluteUrl.test(path)) {
    url = new URL(path);
  } else {
    // "v3/contacts" and "/v3/contacts" both land under the base path ("https://api.x.com/crm" + "/v3" → "/crm/v3").
    const relative = `${base.pathPrefix}/${path.startsWith("/") ? path.slice(1) : path}`;
    // Parsed once, as an absolute URL: what resolving the reference against the origin gives, unless it starts
    // with two slashes (tabs and newlines are dropped by the parser), which names a host: resolved as such.
    url = hostReference.test(relative) ? new URL(relative, base.origin) : new URL(`${base.origin}${relative}`);
  }
  if (url.origin !== base.origin) {
    // Credentials must never be sent to another host because a path came from an API response.
    throw new NonRetryableError(
      `request to ${url.origin} refused: this connection only talks to ${base.origin}; use another connection for that host`,
    );
  }
  return url;
}

const hostReference = /^[/\\][\t\n\r]*[/\\]/;

function encodeBody(
  options: RequestOptions,
  headers: Record<string, string>,
): { body: PreparedRequest["body"]; auditBody: string | null } {
  if (options.json !== undefined) {
    headers["content-type"] ??= "application/json";
    const text = JSON.stringify(options.json);
    return { body: text, auditBody: text };
  }
  if (options.form !== undefined) {
    headers["content-type"] ??= "application/x-www-form-urlencoded";
    const params =
      options.form instanceof URLSearchParams
        ? options.form
        : new URLSearchParams(Object.entries(options.form).map(([k, v]): [string, string] => [k, String(v)]));
    const text = params.toString();
    return { body: text, auditBody: text };
  }
  if (options.multipart !== undefined) {
    // undici sets the multipart content type with its boundary.
    return { body: options.multipart, auditBody: "[multipart body]" };
  }
  if (options.body !== undefined) {
    const auditBody = typeof options.body === "string" ? options.body : `[${options.body.byteLength} bytes]`;
    return { body: options.body, auditBody };
  }
  return { body: undefined, auditBody: null };
}

export function parseResponseBody(text: string, contentType: string | undefined): unknown {
  if (!contentType || !/[/+]json\b/i.test(contentType) || text.length === 0) return text;
  try {
    return JSON.parse(text);
  } catch {
    // A server that says JSON and sends something else: hand over the text rather than fail the step.
    return text;
  }
}
