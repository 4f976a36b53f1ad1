import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Vitest's global setup: compiles src/ to dist/ (incrementally: a second project's setup finds it current), so the
 * `tenon` processes the tests start run the sources under test, not an older build.
 */
export default function buildPackage(): void {
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
}
