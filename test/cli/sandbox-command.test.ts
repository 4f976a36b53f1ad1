import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";

const bin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));

describe("tenon sandbox", () => {
  it("serves every system with its state and faults, prints the variables a config reads, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [bin, "sandbox", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const url = await waitFor("the sandbox's address", () => /export TENON_SANDBOX_URL=(\S+)/.exec(output)?.[1]);
      await waitFor("every variable", () => output.includes("SCHEDULING_WEBHOOK_SECRET="));
      for (const variable of [
        "STORE_TOKEN",
        "CRM_CLIENT_SECRET",
        "CRM_REFRESH_TOKEN",
        "ACCOUNTING_REALM_ID",
        "SMS_USERNAME",
      ]) {
        expect(output).toMatch(new RegExp(`export ${variable}=\\S+`));
      }
      const systems = (await (await fetch(`${url}/_sandbox`)).json()) as { systems: Record<string, string> };
      expect(Object.keys(systems.systems).sort()).toEqual(
        ["accounting", "crm", "email", "inventory", "payments", "scheduling", "sms", "store"].sort(),
      );
      const faults = await fetch(`${url}/_sandbox/email/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ errorRate: 1, errorTiming: "before" }),
      });
      expect(faults.status).toBe(200);
      const token = /export EMAIL_API_KEY=(\S+)/.exec(output)?.[1] ?? "";
      const send = await fetch(`${url}/email/email`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", "x-postmark-server-token": token },
        body: JSON.stringify({ From: "a@example.com", To: "b@example.com", Subject: "hi", TextBody: "hi" }),
      });
      expect(send.status).toBeGreaterThanOrEqual(500);
      const state = (await (await fetch(`${url}/_sandbox/email/state`)).json()) as {
        injectedFaults: { error_before: number };
      };
      expect(state.injectedFaults.error_before).toBe(1);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});
