import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dashboardSources = join(root, "dashboard");
const builtDashboard = join(root, "dist", "dashboard", "index.html");

/**
 * Vitest's global setup: compiles src/ to dist/ (incrementally: a second project's setup finds it current), so the
 * `tenon` processes the tests start run the sources under test, not an older build; and builds the dashboard into
 * dist/dashboard/ when its sources changed since the last build (its browser tests are served that build).
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
  if (dashboardIsCurrent()) return;
  // About two seconds; skipped when nothing changed, and it empties dist/dashboard/ while it writes.
  execFileSync(
    process.execPath,
    [
      fileURLToPath(new URL("../../node_modules/vite/bin/vite.js", import.meta.url)),
      "build",
      "--config",
      "dashboard/vite.config.ts",
      "--logLevel",
      "warn",
    ],
    { cwd: root, stdio: "inherit" },
  );
}

/** The build is newer than every file of the dashboard's sources (and than the installed packages). */
function dashboardIsCurrent(): boolean {
  if (!existsSync(builtDashboard)) return false;
  const builtAt = statSync(builtDashboard).mtimeMs;
  const lockfile = join(root, "package-lock.json");
  if (existsSync(lockfile) && statSync(lockfile).mtimeMs > builtAt) return false;
  return newestChange(dashboardSources) <= builtAt;
}

function newestChange(directory: string): number {
  let newest = statSync(directory).mtimeMs;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}
