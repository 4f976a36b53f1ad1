import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { alertFingerprint } from "../../src/alerting/alert-evaluator.ts";
import { testAlertEvaluator } from "../support/alerts.ts";
import { type Backend, backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { endRuns } from "../support/ended-runs.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

describe.each(backends)("tenon alerts ($name)", (backend: Backend) => {
  const t = useTestStorage(backend);
  let cwd: string;
  const fingerprint = alertFingerprint("run_dead", "integration:billing");

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-alerts-"));
    await t.storage.migrate();
    const clock = new ManualClock(Date.now());
    await endRuns(t.storage, "billing", "dead", 2, clock.now() - 60_000);
    await testAlertEvaluator(t.storage, clock, { errorRate: false, consecutiveFailures: false }).alerts.evaluateOnce();
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  const tenon = (args: string[]) => runTenonCli(cwd, args, t.db.env);

  it("lists the firing alert, acknowledges it (in the operator log), and refuses an unknown fingerprint with the reason", async () => {
    const listed = await tenon(["alerts"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(fingerprint);
    expect(listed.stdout).toContain("2 dead runs of integration billing in the last 15 minutes");

    const acked = await tenon(["alerts", "ack", fingerprint]);
    expect(acked.code, acked.stderr).toBe(0);
    expect(acked.stdout).toContain("no more notifications until it resolves");
    expect(await t.storage.alerts.getAlert(fingerprint)).toMatchObject({ ackedBy: expect.stringMatching(/^cli:/) });
    const [entry] = await t.storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(entry).toMatchObject({ via: "cli", action: "tenon alerts ack", target: fingerprint });

    const json = await tenon(["alerts", "--json"]);
    expect(JSON.parse(json.stdout).alerts[0]).toMatchObject({ fingerprint, status: "firing", count: 2 });

    const unknown = await tenon(["alerts", "snooze", "ffffffffffffffff", "2h"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("no alert with fingerprint ffffffffffffffff");
  });
});
