let registering: Promise<void> | undefined;

/**
 * Lets this process import a project's TypeScript (its tenon.config.ts and the integrations it imports), in a
 * package of either "type". Compiled Tenon registers tsx's hooks once, before the first such import; they only
 * change how TypeScript files load, so the config's `import "tenon"` still resolves to the very modules this
 * process runs (one copy: an integration's `NonRetryableError` is the engine's).
 * Tenon run from its own sources (its tests) is already inside a host that loads TypeScript.
 */
export function ensureTypeScriptLoader(): Promise<void> {
  if (import.meta.url.endsWith(".ts")) return Promise.resolve();
  registering ??= (async () => {
    const [esm, commonJs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    esm.register();
    commonJs.register();
  })();
  return registering;
}
