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
    // Every module loaded after the hooks are registered is resolved and loaded through them, on Node 20 a round
    // trip to a loader thread each. Tenon's public entry points, which a config imports, load first, at Node's
    // speed, and so does kysely (~280 modules), which storage, opened after the config is loaded, imports.
    await Promise.all([import("../index.ts"), import("kysely"), ...connectorEntryPoints()]);
    const [esm, commonJs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    esm.register();
    commonJs.register();
  })();
  return registering;
}

function connectorEntryPoints(): Promise<unknown>[] {
  return [
    import("../connectors/http/index.ts"),
    import("../connectors/hubspot/index.ts"),
    import("../connectors/inventory/index.ts"),
    import("../connectors/postmark/index.ts"),
    import("../connectors/quickbooks/index.ts"),
    import("../connectors/scheduling/index.ts"),
    import("../connectors/shopify/index.ts"),
    import("../connectors/stripe/index.ts"),
    import("../connectors/twilio/index.ts"),
  ];
}
