import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
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
    // The sandbox's port from the environment, as the demo takes it (no --sandbox-port).
    const sandboxPort = await freePort();
    const child = spawn(process.execPath, [bin, "dev", "--config", examplesConfig], {
      cwd: directory,
      env: { ...process.env, TENON_HTTP_PORT: "0", TENON_SANDBOX_PORT: String(sandboxPort) },
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
      expect(sandbox).toBe(`http://127.0.0.1:${sandboxPort}`);
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
      // The printed link, written before the engine process started, signs a browser in as admin: it sees the run.
      const link = await waitFor("the sign-in link", () => /Sign in\s+(http:\/\/\S+)/.exec(output)?.[1]);
      const signedIn = await fetch(link, { redirect: "manual" });
      expect(signedIn.status, output).toBe(303);
      const cookie = /^tenon_session=[^;]+/.exec(signedIn.headers.getSetCookie()[0] ?? "")?.[0] ?? "";
      const runs = (await (await fetch(new URL("/api/runs", link), { headers: { cookie } })).json()) as {
        runs: { integrationId: string }[];
      };
      expect(runs.runs.map((run) => run.integrationId)).toContain("order-to-cash");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, output).toBe(0);
  });
});

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
