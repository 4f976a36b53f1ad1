import { defineConfig } from "vitest/config";

/** The chaos tests load both cores with worker processes: they run on their own, after everything else. */
const chaos = ["test/e2e/chaos-*.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two cores: crash and multi-process tests spawn their own workers.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "suite", include: ["test/**/*.test.ts"], exclude: chaos } },
      { extends: true, test: { name: "chaos", include: chaos, sequence: { groupOrder: 1 } } },
    ],
  },
});
