import { afterEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import { assertConnectionConfigs } from "../../src/connections/validate-connection-config.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";

describe.each(backends)(
  'a connection whose answers are a webhook receiver\'s (answers: "webhook", $name)',
  (backend) => {
    const t = useTestStorage(backend);
    const receiver = new ApiTestServer();
    let connections: Connections | undefined;
    let engine: Engine | undefined;

    afterEach(async () => {
      await engine?.stop({ deadlineMs: 1000 });
      await connections?.stop();
      await receiver.close();
    });

    it("retries a 401, a 410 and a redirect like a 500 (no pause, no failure), and succeeds on a 2xx", async () => {
      await receiver.start();
      receiver.queue({ status: 401 }, { status: 410, body: { error: "gone" } }, { status: 302 }, { status: 500 });
      receiver.respond = () => ({ status: 204 });
      connections = testConnections(t.storage, {
        receiver: { baseUrl: receiver.origin, answers: "webhook", circuit: false, idempotencyHeader: false },
      });
      const integration = defineIntegration({
        id: "deliver",
        trigger: { event: "go" },
        retries: { maxAttempts: 6, initialDelay: 5, maxDelay: 5 },
        run: ({ step, connection }) =>
          step.run("post", async () => (await connection("receiver").post("/hook", { json: { a: 1 } })).status),
      });
      engine = testEngine({ storage: t.storage, integrations: [integration], connections });
      await engine.start();
      const runId = (await engine.send({ type: "go", payload: {} })).runIds[0] as string;
      const run = await waitForRunStatus(t.storage, runId, ["succeeded", "failed", "dead", "paused"]);

      expect(run.status).toBe("succeeded");
      expect(run.outputJson).toBe("204");
      expect(receiver.requests).toHaveLength(5);
      const steps = await t.storage.listSteps(runId);
      expect(steps[0]?.failures).toBe(4);
      // A receiver's 401 says nothing about credentials Tenon holds: the connection is not failed, nothing paused.
      expect((await t.storage.connections.getConnection("receiver"))?.status ?? "active").toBe("active");
      expect(await t.storage.connections.listIncidents({ connectionId: "receiver" })).toEqual([]);
    });
  },
);

it("the answers option is checked with the other connection settings", () => {
  expect(() =>
    assertConnectionConfigs({ hook: { baseUrl: "https://example.com", answers: "hooks" as "webhook" } }),
  ).toThrow('connection "hook": answers must be "api" or "webhook", got "hooks"');
});
