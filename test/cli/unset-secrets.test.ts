import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engine/engine.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { silentLogger } from "../support/engine.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

// By absolute path: the temporary project has no node_modules to find Tenon in.
const secretFromEnvModule = fileURLToPath(new URL("../../src/sdk/secret-from-env.ts", import.meta.url));

const config = `import { secretFromEnv } from ${JSON.stringify(secretFromEnvModule)};

export default {
  integrations: [],
  webhooks: {
    payments: { provider: "stripe", secrets: [secretFromEnv("PAYMENTS_WEBHOOK_SECRET")] },
  },
  connections: {
    crm: {
      baseUrl: "https://crm.example.com",
      auth: { type: "oauth2", grant: "client_credentials", tokenUrl: "https://crm.example.com/token" },
      credentials: { clientId: "tenon", clientSecret: secretFromEnv("CRM_CLIENT_SECRET") },
    },
  },
};
`;

describe("a config whose secrets' variables are not set", () => {
  let cwd: string;
  let sqlitePath: string;
  let eventId: string;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-unset-secrets-"));
    sqlitePath = join(cwd, "tenon.db");
    writeFileSync(join(cwd, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(cwd, "tenon.config.ts"), config);
    const storage = new SqliteStorage({ path: sqlitePath });
    const engine = createEngine({ storage, integrations: [], worker: false, logger: silentLogger });
    await engine.start();
    ({ eventId } = await engine.send({ source: "payments", type: "charge.succeeded", id: "evt_1", payload: {} }));
    await engine.stop();
    await storage.close();
  });
  afterAll(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  /** The real CLI, with neither PAYMENTS_WEBHOOK_SECRET nor CRM_CLIENT_SECRET in its environment. */
  function tenon(args: string[]) {
    return runTenonCli(cwd, args, { TENON_SQLITE_PATH: sqlitePath, TENON_HTTP_PORT: "0" });
  }

  it.each([
    ["runs", /no runs match/],
    ["events", /charge\.succeeded/],
    ["connections list", /crm\s+oauth2\s+active/],
    ["audit", /no audit records match/],
    ["replay-event <event>", /matches no integration/],
  ])("tenon %s works: it needs no secret", async (command, expected) => {
    const result = await tenon(command.split(" ").map((arg) => (arg === "<event>" ? eventId : arg)));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(expected);
  });

  it("tenon start refuses at once, naming every missing variable and where the config uses it", async () => {
    const started = Date.now();
    const result = await tenon(["start"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "tenon: tenon start needs every secret the config reads from the environment, and these variables are not set: " +
        "PAYMENTS_WEBHOOK_SECRET (webhooks.payments.secrets[0]), CRM_CLIENT_SECRET (connections.crm.credentials.clientSecret)",
    );
    expect(result.stdout).not.toContain('"ready"');
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
