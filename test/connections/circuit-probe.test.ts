import type { IncomingMessage, ServerResponse } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectionClient } from "../../src/sdk/connection-client.ts";
import { CircuitOpenError } from "../../src/sdk/errors.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { LoopbackServer } from "../support/loopback-server.ts";
import { waitFor } from "../support/wait.ts";

const cooldownMs = 400;

/**
 * An API that fails, then hangs on the first request after that (the circuit's probe), then heals. It counts
 * the requests whose client is still waiting for an answer, and notes whether the hung one was given up.
 */
class RecoveringApi extends LoopbackServer {
  mode: "failing" | "hanging" | "healthy" = "failing";
  inFlight = 0;
  maxInFlight = 0;
  /** The request the API hung on: whether its client went away before the answer, and how to answer it at last. */
  hung: { abandoned: boolean; answer: (status: number) => void } | undefined;

  protected async answer(_request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    response.on("close", () => {
      this.inFlight--;
    });
    if (this.mode === "failing") return void response.writeHead(503).end();
    if (this.mode === "healthy" || this.hung) return void response.writeHead(200).end("{}");
    const status = await new Promise<number>((resolve) => {
      const hung = { abandoned: false, answer: resolve };
      response.on("close", () => {
        if (!response.writableFinished) hung.abandoned = true;
      });
      this.hung = hung;
    });
    if (!response.destroyed) response.writeHead(status).end();
  }
}

async function outcome(request: Promise<unknown>): Promise<unknown> {
  return request.then(
    () => "succeeded",
    (error: unknown) => error,
  );
}

describe.each(backends)("the circuit breaker's probe lease ($name)", (backend) => {
  const t = useTestStorage(backend);
  let api: RecoveringApi;
  let stop: () => Promise<void> = async () => {};

  beforeEach(async () => {
    api = new RecoveringApi();
    await api.start();
    await t.storage.migrate();
  });
  afterEach(async () => {
    api.hung?.answer(503);
    await stop();
    await api.close();
  });

  function client(): ConnectionClient {
    const connections = testConnections(t.storage, {
      api: { baseUrl: api.origin, circuit: { failureThreshold: 1, cooldown: `${cooldownMs}ms` } },
    });
    stop = () => connections.stop();
    return connections.client("api");
  }

  /** Requests until one is let through the circuit (waiting out each CircuitOpenError's time), and returns its outcome. */
  async function requestOnceAdmitted(api: ConnectionClient): Promise<unknown> {
    for (let tries = 0; tries < 20; tries++) {
      const result = await outcome(api.get("/orders"));
      if (!(result instanceof CircuitOpenError)) return result;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, result.reopenAt - Date.now()) + 5));
    }
    throw new Error("no request was let through the circuit in 20 tries");
  }

  it("a probe still waiting when its lease ends is aborted and counted as the failed probe; a second probe never overlaps it, and its late answer changes nothing", async () => {
    const orders = client();
    expect(await outcome(orders.get("/orders"))).toBeInstanceOf(CircuitOpenError);
    const opened = await t.storage.connections.getCircuit("api");
    expect(opened.status).toBe("open");

    api.mode = "hanging";
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (opened.reopenAt ?? 0) - Date.now()) + 5));
    const probe = outcome(orders.get("/orders"));
    await waitFor("the probe to reach the API", () => api.hung);
    const { probeUntil } = await t.storage.connections.getCircuit("api");
    // Past the probe's lease as storage knows it: from now on another worker could claim a probe.
    await waitFor("the probe's lease to pass", () => Date.now() > (probeUntil ?? 0) + 5);

    api.mode = "healthy";
    expect(await requestOnceAdmitted(orders)).toBe("succeeded");
    expect(await t.storage.connections.getCircuit("api")).toMatchObject({ status: "closed", consecutiveFailures: 0 });
    // The hung probe's answer finally comes: a 503 that, counted, would open the healthy circuit again.
    api.hung?.answer(503);
    const probed = await probe;

    expect(api.maxInFlight).toBe(1);
    expect(api.hung?.abandoned).toBe(true);
    // The probe failed by its deadline, so its caller waits for the next probe instead of using an attempt.
    expect(probed).toBeInstanceOf(CircuitOpenError);
    expect(await t.storage.connections.getCircuit("api")).toMatchObject({ status: "closed", consecutiveFailures: 0 });
    const kinds = (await t.storage.connections.listIncidents({ connectionId: "api" })).map((i) => i.kind);
    expect(kinds).toEqual(["circuit_closed", "circuit_opened"]);
    const audit = await waitFor("the aborted probe in the audit trail", async () =>
      (await t.storage.connections.listAudit({ connectionId: "api" })).find((r) => r.error?.includes("probe")),
    );
    expect(audit.error).toContain("probe timeout: the server did not answer the circuit's probe");
  });
});
