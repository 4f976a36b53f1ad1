import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two cores: crash and multi-process tests spawn their own workers.
    maxWorkers: 2,
  },
});
