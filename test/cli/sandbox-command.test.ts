import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";

const allSystems = [
  "accounting",
  "chat",
  "crm",
  "email",
  "inventory",
  "mail",
  "pager",
  "payments",
  "scheduling",
  "sms",
  "store",
].sort();

const bin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));
let directory: string | undefined;
afterEach(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

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
      await waitFor("every variable", () => output.includes("MAIL_PASSWORD="));
      for (const variable of [
        "STORE_TOKEN",
        "CRM_CLIENT_SECRET",
        "CRM_REFRESH_TOKEN",
        "ACCOUNTING_REALM_ID",
        "SMS_USERNAME",
        "CHAT_OPS_WEBHOOK_URL",
        "PAGER_ROUTING_KEY",
        "MAIL_SMTP_HOST",
        "MAIL_SMTP_PORT",
        "MAIL_PASSWORD",
      ]) {
        expect(output).toMatch(new RegExp(`export ${variable}=\\S+`));
      }
      const systems = (await (await fetch(`${url}/_sandbox`)).json()) as { systems: Record<string, string> };
      expect(Object.keys(systems.systems).sort()).toEqual(allSystems);
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

  it("--json prints one JSON object for scripts, and --write-env-file writes the variables as a dotenv file", async () => {
    directory = mkdtempSync(join(tmpdir(), "tenon-sandbox-"));
    const envFile = join(directory, "sandbox.env");
    const child = spawn(
      process.execPath,
      [bin, "sandbox", "--port", "0", "--json", "--write-env-file", envFile, "--webhook-time-scale", "3600"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const line = await waitFor("the JSON line", () => (stdout.includes("\n") ? stdout.split("\n")[0] : undefined));
      const printed = JSON.parse(line) as {
        url: string;
        webhookTimeScale: number;
        envFile: string;
        systems: Record<string, { baseUrl: string; stateUrl: string; listenerUrls: string[] }>;
        environment: Record<string, string>;
      };
      expect(printed).toMatchObject({
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        webhookTimeScale: 3600,
        envFile,
      });
      expect(Object.keys(printed.systems).sort()).toEqual(allSystems);
      expect(printed.systems.store?.baseUrl).toBe(`${printed.url}/store`);
      expect(printed.systems.store?.listenerUrls).toEqual([]);
      expect(printed.systems.mail?.listenerUrls).toEqual([`smtp://127.0.0.1:${printed.environment.MAIL_SMTP_PORT}`]);
      const state = (await (await fetch(printed.systems.payments?.stateUrl ?? "")).json()) as {
        webhooks: { retries: { timeScale: number } };
      };
      expect(state.webhooks.retries.timeScale).toBe(3600);

      // The file reads back, through Node's own dotenv parser, as exactly the printed environment.
      expect(parseEnv(readFileSync(envFile, "utf8"))).toEqual(printed.environment);
      expect(printed.environment).toMatchObject({ TENON_SANDBOX_URL: printed.url, STORE_TOKEN: expect.any(String) });
      expect(statSync(envFile).mode & 0o077).toBe(0);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stdout.trim().split("\n")).toHaveLength(1);
  });
});
