import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The end-to-end scenarios run on their own, after everything else, four side by side: the chaos tests load both
 * cores with worker processes, while order-to-cash mostly waits (its 10% of 429s pause a connection for their
 * Retry-After: 313 s of wall time for 61 s of CPU), so it would hold one of the suite's two slots for minutes.
 */
const endToEnd = ["test/e2e/*.test.ts"];
const source = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // In-process tests run Tenon from its sources, so the examples' `import "tenon"` must load those same modules.
    // Child processes run the compiled package, and the examples' "tenon" is then dist/ (the package's own exports).
    // Not tsconfig `paths`: tsx honours them, and a `tenon start` would load the examples' Tenon from src/, a
    // second copy beside the CLI's (the step an outbound call runs in would be invisible to the connectors).
    alias: [
      { find: /^tenon$/, replacement: source("index.ts") },
      { find: /^tenon\/connectors\/([a-z-]+)$/, replacement: source("connectors/$1/index.ts") },
      { find: /^tenon\/(sandbox|testing)$/, replacement: source("$1/index.ts") },
    ],
  },
  test: {
    // The CLI and the engine processes that tests start run the compiled package: build it first.
    globalSetup: ["test/support/build-package.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two cores: crash and multi-process tests spawn their own workers.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "suite", include: ["test/**/*.test.ts"], exclude: endToEnd } },
      { extends: true, test: { name: "e2e", include: endToEnd, maxWorkers: 4, sequence: { groupOrder: 1 } } },
    ],
  },
});
