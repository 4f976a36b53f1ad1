import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";

const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const overrides = {
  STORE_RATE_LIMIT: "80/s burst 200",
  PAYMENTS_RATE_LIMIT: "off",
  EMAIL_BASE_URL: "http://127.0.0.1:4999/postmark",
  CRM_BASE_URL: "http://127.0.0.1:4998/hubspot",
  ACCOUNTING_TOKEN_URL: "https://oauth.example.com/token",
};
let sandbox: Sandbox;
const before = { ...process.env };

beforeAll(async () => {
  sandbox = createSandbox({ systems: builtInSystems });
  await sandbox.listen();
  Object.assign(process.env, sandboxEnvironment(sandbox, Object.keys(builtInSystems)), overrides);
});

afterAll(async () => {
  for (const name of Object.keys(process.env)) if (!(name in before)) delete process.env[name];
  Object.assign(process.env, before);
  await sandbox.close();
});

describe("the example config", () => {
  it("takes a connection's base URL, OAuth URLs and rate limit from the environment, and the sandbox's otherwise", async () => {
    // Imported here, once the environment is set: the config reads it as it loads.
    const { default: config } = (await import(examplesConfig)) as {
      default: { connections: Record<string, ConnectionConfig & { auth?: { tokenUrl?: string } }> };
    };
    const { store, payments, email, crm, accounting, inventory } = config.connections;
    expect(store?.rateLimit).toBe("80/s burst 200");
    expect(payments?.rateLimit).toBe(false);
    expect(inventory?.rateLimit).toBe("20/s");
    expect(email?.baseUrl).toBe("http://127.0.0.1:4999/postmark");
    expect(inventory?.baseUrl).toBe(sandbox.baseUrl("inventory"));
    expect(crm).toMatchObject({
      baseUrl: "http://127.0.0.1:4998/hubspot",
      auth: { tokenUrl: "http://127.0.0.1:4998/hubspot/oauth/v1/token" },
    });
    expect(accounting?.baseUrl).toBe(`${sandbox.baseUrl("accounting")}/v3/company/${process.env.ACCOUNTING_REALM_ID}`);
    expect(accounting?.auth).toMatchObject({ tokenUrl: "https://oauth.example.com/token" });
  });
});
