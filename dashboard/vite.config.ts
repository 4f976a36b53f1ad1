import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";
import { firstRequests } from "./src/api/polling.ts";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The operator dashboard, built into dist/dashboard/ beside the compiled engine, whose server serves it at `/`.
 * Everything is bundled (no CDN: a deployment may have no way out), and asset names carry a content hash so
 * they can be cached for good while index.html is not.
 */
export default defineConfig(({ command }) => {
  // A build is React's production build whatever NODE_ENV the calling shell has (vitest's global setup runs with
  // "test"): the development build is several times slower. Read by Vite after this config is loaded.
  if (command === "build") process.env.NODE_ENV = "production";
  return {
    root: here("."),
    base: "/",
    plugins: [react(), firstRequestsFile()],
    build: {
      outDir: here("../dist/dashboard"),
      // Outside the root, Vite empties it only when told; stale hashed assets would otherwise pile up.
      emptyOutDir: true,
      assetsDir: "assets",
      sourcemap: false,
      target: "es2022",
    },
    server: {
      // `npx vite --config dashboard/vite.config.ts` next to a running `tenon dev`: the API is on the engine's port.
      proxy: {
        "/api": "http://127.0.0.1:3000",
        "/auth": "http://127.0.0.1:3000",
        "/oauth": "http://127.0.0.1:3000",
      },
    },
  };
});

/**
 * `first-requests.json` beside index.html: what each page asks the API before its first render. The server sends
 * them as `Link: <…>; rel=preload` with that page's index.html, so the browser asks while it loads the app's code.
 */
function firstRequestsFile(): Plugin {
  return {
    name: "tenon-first-requests",
    apply: "build",
    generateBundle() {
      this.emitFile({ type: "asset", fileName: "first-requests.json", source: `${JSON.stringify(firstRequests)}\n` });
    },
  };
}
