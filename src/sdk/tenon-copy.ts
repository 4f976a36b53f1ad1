import { ConfigurationError } from "./errors.ts";

/**
 * Which copy of Tenon made an integration: the URL of this module in that copy, under a key shared by every
 * copy. Two copies in one process (a project that installed two versions, or a config whose `import "tenon"`
 * is mapped elsewhere, e.g. by tsconfig `paths`) would run, but not as one: the engine would not see the
 * step an outbound call runs in, so connectors would send no idempotency key.
 */
const definedBy = Symbol.for("tenon.definedBy");
const thisCopy = import.meta.url;

export function stampWithThisCopy<T extends object>(integration: T): T {
  return Object.defineProperty(integration, definedBy, { value: thisCopy });
}

/** Fails, naming both copies, when an integration was made by another copy of Tenon than the one running it. */
export function assertMadeByThisCopy(integration: { id: string }, origin: string): void {
  const madeBy = (integration as { [definedBy]?: unknown })[definedBy];
  if (typeof madeBy !== "string" || madeBy === thisCopy) return;
  throw new ConfigurationError(
    `${origin}: integration "${integration.id}" was made by another copy of Tenon (${packageOf(madeBy)}) than the one running it (${packageOf(thisCopy)}); the config and the tenon command must import the same one: check \`npm ls tenon\`, and that no tsconfig "paths" entry maps "tenon"`,
  );
}

function packageOf(url: string): string {
  return url.replace(/\/sdk\/tenon-copy\.[jt]s$/, "");
}
