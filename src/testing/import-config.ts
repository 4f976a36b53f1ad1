import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assertConfig, type TenonConfig } from "../config/define-config.ts";
import { ConfigurationError, toError } from "../sdk/errors.ts";

let imports = 0;

/**
 * Evaluates the config module anew on each call: a config reads the sandbox's URL and credentials from
 * the environment when it is evaluated, and each harness starts a sandbox with new ones, so the module a
 * previous harness imported (cached by its URL) would point at a sandbox that is gone. The query makes a
 * new module instance of the config file alone; what it imports is shared, Tenon's classes included.
 */
export async function importConfigAfresh(config: URL | string): Promise<TenonConfig> {
  const url = typeof config === "string" ? configFileUrl(config) : config;
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new ConfigurationError(`startTestHarness: no config file at ${path}`);
  }
  imports += 1;
  let module: { default?: unknown };
  try {
    module = await import(`${url.href}${url.search ? "&" : "?"}tenon-test-harness=${imports}`);
  } catch (thrown) {
    const error = toError(thrown);
    throw new ConfigurationError(`startTestHarness: loading ${path} failed: ${error.message}`, { cause: error });
  }
  assertConfig(module.default, path);
  return module.default;
}

/** A `file:` URL string as it is, any other string as a path from the working directory. */
function configFileUrl(config: string): URL {
  return config.startsWith("file:") ? new URL(config) : pathToFileURL(resolve(config));
}
