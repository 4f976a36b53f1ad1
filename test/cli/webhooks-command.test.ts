import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Backend, backends, useTestStorage } from "../support/backends.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const secret = `whsec_${Buffer.from("cli-subscriber-signing-key-0123456").toString("base64")}`;
const day = 86_400_000;

// What a project's tenon.config.ts may hold; plain data, so the temporary directory needs no node_modules.
const config = `export default {
  integrations: [],
  operationalWebhooks: {
    ops: { url: "https://ops.example.com/tenon?token=query-secret-123&team=core", secrets: ["${secret}"], events: ["run.dead", "connection.auth_failed"] },
    audit: { url: "https://audit.example.com/hooks", secrets: ["${secret}"], events: ["*"] },
  },
};
`;

describe.each(backends)("tenon webhooks ($name)", (backend: Backend) => {
  const t = useTestStorage(backend);
  let cwd: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-webhooks-"));
    writeFileSync(join(cwd, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(cwd, "tenon.config.ts"), config);
    await t.storage.migrate();
    const store = t.storage.operationalWebhooks;
    const failingSince = Date.now() - 6 * day;
    await store.recordDeliveryFailure("ops", { createdAt: failingSince, finishedAt: failingSince + day, seq: 1 });
    await store.disableSubscriber("ops", failingSince, Date.now() - 3_600_000, "its deliveries have failed for 5 days");
    await store.addSkipped("ops", 4);
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  const tenon = (args: string[]) => runTenonCli(cwd, args, t.db.env);

  it("lists each subscriber with its state, enables the disabled one (in the operator log), and refuses an unknown name", async () => {
    const listed = await tenon(["webhooks"]);
    expect(listed.code, listed.stderr).toBe(0);
    const [header, opsRow, auditRow] = listed.stdout.trim().split("\n");
    expect(header).toMatch(/^NAME\s+URL\s+EVENTS\s+STATE\s+LAST SUCCESS\s+FAILING SINCE\s+DISABLED AT/);
    expect(opsRow).toContain("https://ops.example.com/tenon?team=core");
    expect(opsRow).toContain("run.dead, connection.auth_failed");
    expect(opsRow).toContain("disabled (4 skipped)");
    expect(opsRow).toMatch(/\(6 d ago\).*\(1 h ago\)/);
    expect(auditRow).toMatch(/^audit\s+https:\/\/audit\.example\.com\/hooks\s+\*\s+active\s+-\s+-\s+-/);
    expect(listed.stdout).not.toContain("query-secret-123");
    expect(listed.stdout).not.toContain(secret);

    const json = JSON.parse((await tenon(["webhooks", "--json"])).stdout);
    expect(json.webhooks[0]).toMatchObject({
      name: "ops",
      state: "disabled",
      disabledReason: "its deliveries have failed for 5 days",
      consecutiveFailures: 1,
      skipped: 4,
    });

    const enabled = await tenon(["webhooks", "enable", "ops"]);
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(enabled.stdout).toContain("operational webhook ops is enabled");
    expect(await t.storage.operationalWebhooks.getSubscriberHealth("ops")).toMatchObject({
      disabledAt: null,
      failingSince: null,
      consecutiveFailures: 0,
    });
    const [entry] = await t.storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(entry).toMatchObject({ via: "cli", action: "tenon webhooks enable", target: "ops" });
    expect((await tenon(["webhooks"])).stdout.split("\n")[1]).toContain("active (4 skipped)");

    const unknown = await tenon(["webhooks", "enable", "pager"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no operational webhook "pager" in tenon.config.ts; configured: ops, audit');
  });
});
