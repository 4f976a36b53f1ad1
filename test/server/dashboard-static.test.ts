import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { silentLogger, testEngine } from "../support/engine.ts";

const indexHtml = `<!doctype html><html><head><script type="module" src="/assets/index-Bx7k2q.js"></script></head><body><div id="root"></div></body></html>`;
const appJs = "console.log('the dashboard');";
const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

describe.each(backends)("the dashboard's files at / on $name", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine;
  let server: TenonServer | undefined;
  let url: string;
  let directory: string;

  /** A build as Vite lays it out: index.html, hashed files under assets/, and files copied from public/. */
  function fakeBuild(): string {
    mkdirSync(join(directory, "assets"), { recursive: true });
    writeFileSync(join(directory, "index.html"), indexHtml);
    writeFileSync(join(directory, "assets", "index-Bx7k2q.js"), appJs);
    writeFileSync(join(directory, "assets", "index-Dq9aZ1.css"), "body { margin: 0 }");
    writeFileSync(join(directory, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
    return directory;
  }

  async function start(dashboardDirectory: string) {
    server = createServer({ engine, logger: silentLogger, apiTokens: ["admin-token-0123456789"], dashboardDirectory });
    url = await server.listen({ host: "127.0.0.1", port: 0 });
  }

  async function get(path: string, accept?: string) {
    const response = await fetch(`${url}${path}`, accept === undefined ? {} : { headers: { accept } });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  beforeEach(async () => {
    directory = mkdtempSync(join(tmpdir(), "tenon-dashboard-"));
    await t.storage.migrate();
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await engine.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  it("serves index.html at / and at the app's own pages, never cached, with a self-only CSP and no framing or Referer", async () => {
    await start(fakeBuild());
    for (const path of ["/", "/runs/run-1", "/runs?status=dead", "/connections/crm/", "/index.html"]) {
      const page = await get(path, html);
      expect([page.status, page.text], path).toEqual([200, indexHtml]);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(page.headers.get("cache-control")).toBe("no-cache");
      const csp = page.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
      expect(page.headers.get("x-frame-options")).toBe("DENY");
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    }
    // `/` is the dashboard whatever the client accepts.
    expect((await get("/")).text).toBe(indexHtml);
  });

  it("serves hashed assets for a year (immutable), and other files revalidated", async () => {
    await start(fakeBuild());
    const script = await get("/assets/index-Bx7k2q.js");
    expect([script.status, script.text]).toEqual([200, appJs]);
    expect(script.headers.get("content-type")).toMatch(/^(text|application)\/javascript/);
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(script.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await get("/assets/index-Dq9aZ1.css")).headers.get("content-type")).toMatch(/^text\/css/);
    const icon = await get("/favicon.svg");
    expect([icon.status, icon.headers.get("cache-control")]).toEqual([200, "no-cache"]);
  });

  it("has the browser preload what the overview asks first, as the build lists it, and only there", async () => {
    const build = fakeBuild();
    writeFileSync(
      join(build, "first-requests.json"),
      JSON.stringify({ "/": ["/auth/session", "/api/alerts?status=firing&limit=20", "//elsewhere.example/steal"] }),
    );
    await start(build);
    const overview = await get("/", html);
    expect(overview.status).toBe(200);
    // Another origin's URL is never preloaded: only paths on this server are.
    expect(overview.headers.get("link")).toBe(
      "</auth/session>; rel=preload; as=fetch; crossorigin, </api/alerts?status=firing&limit=20>; rel=preload; as=fetch; crossorigin",
    );
    expect((await get("/runs", html)).headers.get("link")).toBeNull();
    // The list is the server's to read, not a file of the app's.
    expect((await get("/first-requests.json")).status).toBe(404);
  });

  it("serves the dashboard without preloads when the build's list cannot be read", async () => {
    const build = fakeBuild();
    writeFileSync(join(build, "first-requests.json"), "{ not json");
    await start(build);
    const overview = await get("/", html);
    expect([overview.status, overview.text, overview.headers.get("link")]).toEqual([200, indexHtml, null]);
  });

  it("keeps the server's own paths its own: /api, /auth, /hooks, /oauth, /metrics and health answer as before, in JSON", async () => {
    await start(fakeBuild());
    for (const path of [
      "/api/unknown",
      "/api/runs/x/y",
      "/hooks",
      "/hooks/shop/x",
      "/oauth/x/y/z",
      "/auth/nothing",
      "/healthz/x",
    ]) {
      const answer = await get(path, html);
      expect([answer.status, answer.headers.get("content-type")], path).toEqual([
        404,
        "application/json; charset=utf-8",
      ]);
      expect(JSON.parse(answer.text).error, path).toBe("not_found");
    }
    expect((await get("/healthz", html)).status).toBe(200);
    expect((await get("/readyz", html)).status).toBe(200);
    // An unknown API route is 404 before any token is asked for, page or not.
    expect((await get("/api/runs", html)).status).toBe(401);
    // A script or an image that is not there is a 404, not the app's page.
    expect((await get("/assets/index-gone.js", "*/*")).status).toBe(404);
    expect((await get("/runs/run-1", "application/json")).status).toBe(404);
    const posted = await fetch(`${url}/runs/run-1`, { method: "POST", headers: { accept: html } });
    expect(posted.status).toBe(404);
  });

  it("serves nothing outside the build directory", async () => {
    writeFileSync(join(directory, "..", "tenon-dashboard-outside.txt"), "secret");
    try {
      await start(fakeBuild());
      for (const path of [
        "/../tenon-dashboard-outside.txt",
        "/assets/../../tenon-dashboard-outside.txt",
        "/%2e%2e/tenon-dashboard-outside.txt",
      ]) {
        const answer = await rawGet(url, path);
        expect(answer.status, path).toBe(404);
        expect(answer.body, path).not.toContain("secret");
      }
    } finally {
      rmSync(join(directory, "..", "tenon-dashboard-outside.txt"), { force: true });
    }
  });

  it("says to run `npm run build` when the dashboard is not built, and the API still works", async () => {
    await start(join(directory, "not-built"));
    for (const path of ["/", "/runs/run-1"]) {
      const page = await get(path, html);
      expect(page.status, path).toBe(503);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(page.text).toContain("Run `npm run build`");
      expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    }
    const api = await fetch(`${url}/api/runs`, { headers: { authorization: "Bearer admin-token-0123456789" } });
    expect(api.status).toBe(200);
  });
});

/** A GET with the path exactly as written (fetch would resolve its dots). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, method: "GET" }, (response) => {
      let body = "";
      response.on("data", (chunk) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    request.end();
  });
}
