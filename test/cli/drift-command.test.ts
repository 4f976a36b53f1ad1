import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NewDriftIncident } from "../../src/storage/drift-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const shape = {
  kind: "connection" as const,
  subject: "accounting",
  method: "POST",
  routeTemplate: "/invoice",
  status: 200,
  eventType: null,
};

function incident(id: string, fieldPath: string, change: NewDriftIncident["change"], breaking: boolean) {
  return { ...shape, id, shapeId: "shape-1", fieldPath, change, breaking, example: null, seenCount: 3, at: t0 };
}

describe.each(backends)("tenon drift on $name", (backend) => {
  const t = useTestStorage(backend);
  let cwd: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-drift-cli-"));
    await t.storage.migrate();
    await t.storage.drift.saveShapes([{ ...shape, id: "shape-1", generation: 0, baseline: null, updatedAt: t0 }]);
    await t.storage.drift.recordIncidents([
      incident("incident-1", "Invoice.DocNumber", "removed", true),
      { ...incident("incident-2", "Invoice.InvoiceNumber", "added", false), example: "string (7 chars)" },
    ]);
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  const tenon = (args: string[]) => runTenonCli(cwd, ["drift", ...args], t.db.env);

  it("lists open drift with where, field, change and example; accept closes the shape's incidents and is logged", async () => {
    const listed = await tenon([]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/ID +BREAKING +WHERE +FIELD +CHANGE +EXAMPLE +SEEN +LAST SEEN/);
    expect(listed.stdout).toMatch(/incident-1 +yes +accounting POST \/invoice 200 +Invoice\.DocNumber +removed +- +3 /);
    expect(listed.stdout).toMatch(/incident-2 +no +.* +Invoice\.InvoiceNumber +added +string \(7 chars\) +3 /);
    const breaking = JSON.parse((await tenon(["--breaking", "--json"])).stdout);
    expect(breaking.incidents.map((i: { id: string }) => i.id)).toEqual(["incident-1"]);

    const accepted = await tenon(["accept", "incident-1"]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stdout).toContain("accepted: 2 open incident(s) closed");
    expect((await tenon([])).stdout).toContain("no open API drift");
    expect((await tenon(["--all"])).stdout).toContain("removed (accepted)");
    const [entry] = await t.storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(entry).toMatchObject({ via: "cli", action: "tenon drift accept", target: "incident-1" });

    const unknown = await tenon(["accept", "no-such-incident"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("drift incident no-such-incident does not exist");
  });
});
