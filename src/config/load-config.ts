import { existsSync } from "node:fs";
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigurationError, toError } from "../sdk/errors.ts";
import { assertConfig, type TenonConfig } from "./define-config.ts";
import { ensureTypeScriptLoader } from "./typescript-loader.ts";

export const defaultConfigPath = "tenon.config.ts";

/** Loads and checks a `tenon.config.ts`; `path` is relative to `cwd`. */
export async function loadConfig(path = defaultConfigPath, cwd = process.cwd()): Promise<TenonConfig> {
  const absolute = resolve(cwd, path);
  const fromCwd = relative(cwd, absolute);
  const shown = fromCwd && !fromCwd.startsWith("..") ? fromCwd : absolute;
  if (!existsSync(absolute)) {
    throw new ConfigurationError(
      `no config file at ${shown}; create it with \`export default defineConfig({ integrations: [...] })\` or pass --config <path>`,
    );
  }
  let module: { default?: unknown };
  try {
    module = await importTypeScript(pathToFileURL(absolute).href);
  } catch (thrown) {
    const error = toError(thrown);
    if ((error as { code?: string }).code === "ERR_REQUIRE_CYCLE_MODULE") {
      // What Node 20 says when ES module syntax sits in a file it was told is CommonJS.
      throw new ConfigurationError(
        `${shown} is loaded as CommonJS because the nearest package.json lacks "type": "module"; add it there, or name the file with .mts`,
        { cause: error },
      );
    }
    throw new ConfigurationError(`loading ${shown} failed: ${error.message}`, { cause: error });
  }
  const config = defaultExport(module);
  if (config === undefined) {
    throw new ConfigurationError(
      `${shown} has no default export; end it with \`export default defineConfig({ integrations: [...] })\``,
    );
  }
  assertConfig(config, shown);
  return config;
}

/**
 * In a package without `"type": "module"`, tsx compiles the config to CommonJS, and importing it yields its
 * `module.exports` as the default: `{ __esModule: true, default: config }`.
 */
function defaultExport(module: { default?: unknown }): unknown {
  const value = module.default;
  if (typeof value === "object" && value !== null && (value as { __esModule?: unknown }).__esModule === true) {
    return (value as { default?: unknown }).default;
  }
  return value;
}

/**
 * A plain import, once a TypeScript loader is registered for the whole process. Not tsx's `tsImport`: it loads
 * the file and all it imports as separate module instances, so a `NonRetryableError` thrown by an integration
 * would not be an instance of the engine's `NonRetryableError`, and the engine would retry bad data until the
 * run is dead instead of failing it.
 */
async function importTypeScript(url: string): Promise<{ default?: unknown }> {
  await ensureTypeScriptLoader();
  return import(url);
}
