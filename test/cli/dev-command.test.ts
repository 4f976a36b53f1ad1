import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";

const bin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));
const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
let directory: string | undefined;
afterEach(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
});

describe("tenon dev", () => {
  it("runs a project's integrations against the sandbox: an order placed in the store ends as an email", async () => {
    directory = mkdtempSync(join(tmpdir(), "tenon-dev-"));
    const child = spawn(process.execPath, [bin, "dev", "--config", examplesConfig, "--sandbox-port", "0"], {
      cwd: directory,
      env: { ...process.env, TENON_HTTP_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const sandbox = await waitFor(
        "the sandbox's address",
        () => /Sandbox\s+(http:\/\/\S+)\/_sandbox/.exec(output)?.[1],
      );
      const placed = await fetch(`${sandbox}/_sandbox/store/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "ada@example.com", firstName: "Ada", lastName: "Lovelace" }),
      });
      expect(placed.status, await placed.clone().text()).toBeLessThan(300);
      const order = (await placed.json()) as { order_number: number };
      const mailed = await waitFor(
        "the confirmation email",
        async () => {
          const state = (await (await fetch(`${sandbox}/_sandbox/email/state`)).json()) as {
            messages: { To: { Email: string }[]; Metadata: Record<string, string> }[];
          };
          return state.messages.find((message) => message.Metadata.order === String(order.order_number));
        },
        // Generous: in CI this shares two cores with the end-to-end suites.
        60_000,
        100,
      );
      expect(mailed.To).toEqual([expect.objectContaining({ Email: "ada@example.com" })]);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, output).toBe(0);
  });
});
