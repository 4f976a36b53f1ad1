import type { Sandbox } from "./create-sandbox.ts";

/**
 * The environment variables a config reads to reach the sandbox: `TENON_SANDBOX_URL` and, per system,
 * each credential (and non-secret identifier) as `<SYSTEM>_<FIELD>`: `STORE_TOKEN`, `CRM_CLIENT_ID`,
 * `ACCOUNTING_REALM_ID`, `SMS_USERNAME`. `tenon sandbox` prints them; `tenon dev` and the demo set them.
 */
export function sandboxEnvironment(sandbox: Sandbox, systems: Iterable<string>): Record<string, string> {
  const env: Record<string, string> = { TENON_SANDBOX_URL: sandbox.url };
  for (const name of systems) {
    const system = sandbox.system(name);
    const values = { ...system.identifiers?.(), ...system.credentials() };
    for (const [field, value] of Object.entries(values))
      env[`${screamingSnake(name)}_${screamingSnake(field)}`] = value;
  }
  return env;
}

/** `webhookSecret` → `WEBHOOK_SECRET`, `clientId` → `CLIENT_ID`, `realm-id` → `REALM_ID`. */
function screamingSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase();
}
