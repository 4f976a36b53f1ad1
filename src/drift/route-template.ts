/**
 * The route a request path was built from, when its caller did not say (`RequestOptions.urlTemplate`): each
 * segment that looks like an id (holds a digit, an `@` or an escape, apart from a version like `v3`) becomes
 * `{id}`, keeping a file extension (`orders/1001.json` → `orders/{id}.json`). Shapes are learned per route, so
 * `/v1/items/SKU-1` and `/v1/items/SKU-2` must be one route, not one each.
 */
export function routeTemplateOf(pathname: string): string {
  return pathname
    .split("/")
    .map((segment) => (looksLikeId(segment) ? segment.replace(/^[^.]+/, "{id}") : segment))
    .join("/");
}

const version = /^v\d+(\.\d+)?$/i;

function looksLikeId(segment: string): boolean {
  if (segment === "" || version.test(segment)) return false;
  return /[\d@%]/.test(segment.replace(/\.[a-z]+$/i, ""));
}
