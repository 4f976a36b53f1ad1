import { existsSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { acceptsHtml, sendHtmlPage, setHtmlSecurityHeaders } from "./html-page.ts";
import { isLocalPath } from "./local-path.ts";

/** The built dashboard: src/server/ and dist/server/ are both two levels below the package root. */
export const defaultDashboardDirectory = fileURLToPath(new URL("../../dist/dashboard/", import.meta.url));

/** Vite names each file under assets/ after a hash of its content: a new build means new names. */
const hashedAssetsCache = "public, max-age=31536000, immutable";

/** Paths of the server's own, never the dashboard's pages, even for a browser. */
const serverPrefixes = ["/api", "/auth", "/hooks", "/oauth", "/metrics", "/readyz"];

export interface DashboardOptions {
  /** The built app (index.html and assets/). Default: dist/dashboard/ of this package. */
  directory: string;
}

/**
 * Serves the dashboard's single-page app at `/` on the API's port: its files with `@fastify/static`, and its
 * index.html for `/` and for any other page a browser asks for (`/runs/abc`), where the app's router takes
 * over. Those pages are fixed when the server starts (a rebuild needs a restart), and index.html is kept in
 * memory. Without a build (a checkout where `npm run build` has not run) `/` says so.
 *
 * Register it before the catch-all 404 answer: an unknown route's `onRequest` hooks run in order, and the
 * first one that answers wins.
 */
export function registerDashboard(app: FastifyInstance, options: DashboardOptions): void {
  const indexFile = join(options.directory, "index.html");
  const index = existsSync(indexFile) ? readFileSync(indexFile) : undefined;
  const preloads = readFirstRequests(options.directory);
  if (index) {
    app.register(fastifyStatic, {
      root: options.directory,
      prefix: "/",
      // A route per file found now, rather than one route for `/*`: unknown paths stay unknown routes, so /api's
      // 404 is answered before any token is looked up, and nothing is read from disk for them.
      wildcard: false,
      index: false,
      globIgnore: ["index.html", firstRequestsFile],
      setHeaders(reply, path) {
        const inAssets = relative(options.directory, path).startsWith(`assets${sep}`);
        reply.header("cache-control", inAssets ? hashedAssetsCache : "no-cache");
        reply.header("x-content-type-options", "nosniff");
      },
    });
  }
  const sendIndex = (reply: FastifyReply, page: string) => {
    if (!index) return sendIndexMissing(reply);
    const links = preloads.get(page);
    if (links) reply.header("link", links);
    return setHtmlSecurityHeaders(reply)
      .header("cache-control", "no-cache")
      .type("text/html; charset=utf-8")
      .send(index);
  };
  const sendIndexMissing = (reply: FastifyReply) =>
    sendHtmlPage(reply, 503, "The dashboard is not built", [
      `There is no ${indexFile}: this looks like a checkout of Tenon where the build has not run yet.`,
      "Run `npm run build`, then restart Tenon. The API (/api), webhooks (/hooks) and health checks work meanwhile.",
    ]);

  app.get("/", async (_request, reply) => sendIndex(reply, "/"));
  app.addHook("onRequest", async (request, reply) => {
    if (request.is404 && isDashboardPage(request)) return sendIndex(reply, request.url.split("?")[0] ?? "/");
  });
}

/** Written by the build beside index.html (dashboard/vite.config.ts); not served itself. */
const firstRequestsFile = "first-requests.json";

/**
 * Per page, the `Link` header that has the browser preload the API requests the app makes before its first render
 * (the overview: its session, its health, alerts and throughput), so they are answered while the app's code still
 * loads and parses instead of after. A preload is used only by the same request: same URL, no header of its own
 * (api/client.ts), credentials as `crossorigin` (anonymous: the same-origin cookie goes with it). A build without
 * the file, or with one that cannot be read, preloads nothing: the app asks as it would anyway.
 */
function readFirstRequests(directory: string): Map<string, string> {
  const links = new Map<string, string>();
  const file = join(directory, firstRequestsFile);
  if (!existsSync(file)) return links;
  let pages: unknown;
  try {
    pages = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return links;
  }
  if (typeof pages !== "object" || pages === null) return links;
  for (const [page, urls] of Object.entries(pages)) {
    if (!Array.isArray(urls)) continue;
    const local = urls.filter((url): url is string => typeof url === "string" && isLocalPath(url));
    if (local.length > 0)
      links.set(page, local.map((url) => `<${url}>; rel=preload; as=fetch; crossorigin`).join(", "));
  }
  return links;
}

/** A page of the app a browser navigates to: a GET for HTML, outside the server's own paths. */
function isDashboardPage(request: FastifyRequest): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  if (!acceptsHtml(request.headers.accept)) return false;
  const path = request.url.split("?")[0] ?? "/";
  if (path.startsWith("/health")) return false;
  return !serverPrefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}
