/**
 * The route a request's path (as its caller gave it, relative to the connection's base URL; the path of a full
 * URL) was built from, when the caller did not say (`RequestOptions.urlTemplate`): each segment that looks like
 * an id (holds a digit, an `@` or an escape, apart from a version like `v3`) becomes `{id}`, keeping a file
 * extension (`orders/1001.json` → `orders/{id}.json`). Shapes are learned per route, so `/v1/items/SKU-1` and
 * `/v1/items/SKU-2` must be one route, not one each.
 */
export function routeTemplateOf(path: string): string {
  const pathname = /^[a-z][a-z0-9+.-]*:\/\//i.test(path) ? new URL(path).pathname : path.replace(/[?#].*$/, "");
  return `/${pathname.replace(/^\//, "")}`
    .split("/")
    .map((segment) => (looksLikeId(segment) ? segment.replace(/^[^.]+/, "{id}") : segment))
    .join("/");
}

const version = /^v\d+(\.\d+)?$/i;

function looksLikeId(segment: string): boolean {
  if (segment === "" || version.test(segment)) return false;
  return /[\d@%]/.test(segment.replace(/\.[a-z]+$/i, ""));
}
