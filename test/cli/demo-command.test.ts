import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";

const bin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));
let directory: string | undefined;
afterEach(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
});

describe("npm start (tenon demo)", () => {
  it("starts the sandbox and Tenon, processes the example traffic and stops cleanly after DEMO_DURATION_S", async () => {
    directory = mkdtempSync(join(tmpdir(), "tenon-demo-"));
    const child = spawn(process.execPath, [bin, "demo"], {
      cwd: directory,
      env: { ...process.env, DEMO_DURATION_S: "15", TENON_HTTP_PORT: "0", TENON_SANDBOX_PORT: "0", CI: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    let tenonHealthy = false;
    const probe = setInterval(async () => {
      const url = /Tenon\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (!url || tenonHealthy) return;
      tenonHealthy = (await fetch(`${url}/health`).catch(() => undefined))?.ok === true;
    }, 200);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    // The printed link signs a browser in as admin, though no API token is set: the dashboard shows data at once.
    const link = await waitFor("the sign-in link", () => /Sign in\s+(http:\/\/\S+)/.exec(output)?.[1]);
    const signedIn = await fetch(link, { redirect: "manual" });
    expect([signedIn.status, signedIn.headers.get("location")], output).toEqual([303, "/"]);
    const cookie = /^tenon_session=[^;]+/.exec(signedIn.headers.getSetCookie()[0] ?? "")?.[0] ?? "";
    const runs = await fetch(new URL("/api/runs", link), { headers: { cookie } });
    expect(runs.status, output).toBe(200);
    const code = await exited;
    clearInterval(probe);

    expect(code, output).toBe(0);
    expect(tenonHealthy, output).toBe(true);
    // The final summary (a plain line, since stdout is a pipe) counts runs that succeeded.
    const succeeded = [...output.matchAll(/succeeded (\d+)/g)].map((match) => Number(match[1]));
    expect(Math.max(0, ...succeeded), output).toBeGreaterThan(0);
    expect(output).toContain("Demo stopped (DEMO_DURATION_S elapsed)");
  });
});
