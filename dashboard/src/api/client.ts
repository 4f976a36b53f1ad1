/**
 * The dashboard's only way to the engine: the same REST API every other client uses, authenticated by the
 * session cookie the server set at sign-in. Mutating calls carry the session's CSRF token in a header, which a
 * page on another origin cannot read, so a forged form post is refused even though the cookie rides along.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The API's stable error code (`unknown_run`, `forbidden`…), or `network` when no answer came. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let csrfToken: string | null = null;
let onSignedOut: () => void = () => {};

/** Set from the session: sent as `x-csrf-token` on every call that changes something. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the API answers 401: the session expired or was revoked, so the sign-in page takes over. */
export function whenSignedOut(listener: () => void): void {
  onSignedOut = listener;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function apiGet<T>(path: string, query?: Query): Promise<T> {
  return request<T>("GET", withQuery(path, query));
}

export function apiPost<T>(path: string, body?: unknown): Promise<T> {
  return request<T>("POST", path, body);
}

export function apiDelete<T>(path: string): Promise<T> {
  return request<T>("DELETE", path);
}

function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  // No header of its own on a read: the browser hands a preloaded answer (the first page's, dashboard-routes.ts)
  // only to a request like the preload's. Tenon answers the API in JSON whatever the request accepts.
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, "network", "Tenon did not answer: is the engine running? Retrying shortly.");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const json = parseJson(text);
  if (response.ok) return json as T;
  const error = describeError(response.status, json, text);
  // The session endpoint's own 401 is how "not signed in" is learned; only the API's means the session ended.
  if (response.status === 401 && path.startsWith("/api/")) onSignedOut();
  throw error;
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Tenon answers `{ error, message }`; `{ error: { code, message } }` is read too, in case a route nests it. */
function describeError(status: number, json: unknown, text: string): ApiError {
  if (json && typeof json === "object" && "error" in json) {
    const { error, message } = json as { error: unknown; message?: unknown };
    if (typeof error === "string") return new ApiError(status, error, String(message ?? error));
    if (error && typeof error === "object") {
      const nested = error as { code?: unknown; message?: unknown };
      return new ApiError(status, String(nested.code ?? "error"), String(nested.message ?? nested.code ?? status));
    }
  }
  return new ApiError(status, `http_${status}`, text.slice(0, 300) || `the server answered ${status}`);
}
