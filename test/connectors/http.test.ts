import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { http } from "../../src/connectors/http/index.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createScheduling } from "../../src/sandbox/systems/scheduling.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { LoopbackServer } from "../support/loopback-server.ts";
import { connectToSandbox, type SandboxConnections, startTestSandbox } from "../support/sandbox.ts";

/** A web page where JSON was expected. */
class HtmlServer extends LoopbackServer {
  protected async answer(_request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.setHeader("content-type", "text/html");
    response.end("<html>maintenance</html>");
  }
}

const booking = {
  customer: { name: "Ada Lovelace", email: "ada@example.com", phone: "+14155550123" },
  service: "Haircut",
  price: "45.00",
  currency: "USD",
  starts_at: "2025-06-02T09:00:00Z",
  ends_at: "2025-06-02T09:45:00Z",
};

let sandbox: Sandbox;
let html: HtmlServer;
let connections: SandboxConnections;

beforeAll(async () => {
  html = new HtmlServer();
  await html.start();
  // The scheduling system stands in for "a JSON API without a connector".
  sandbox = await startTestSandbox({ scheduling: (context) => createScheduling(context) });
  const credentials = { token: sandbox.credentials("scheduling").token ?? "" };
  const baseUrl = sandbox.baseUrl("scheduling");
  connections = await connectToSandbox({
    api: http.connection({
      baseUrl,
      auth: { type: "bearer" },
      credentials,
      rateLimit: "50/s",
      headers: { "X-Api-Version": "v1" },
    }),
    plain: http.connection({ baseUrl, auth: { type: "bearer" }, credentials, idempotencyHeader: false }),
    web: http.connection({ baseUrl: html.origin }),
  });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
  await html.close();
});

const lastRequest = () => sandbox.requests("scheduling").at(-1);

describe("http connector", () => {
  it("sends a JSON request with the connection's auth and headers, and the step's Idempotency-Key", async () => {
    const api = http.client(connections.client("api"));
    const response = await connections.inStep(
      () => api.request({ method: "POST", path: "/v1/appointments", json: booking, query: { notify: false } }),
      { key: "run-1:book" },
    );
    expect(response).toMatchObject({
      status: 201,
      headers: { "content-type": expect.stringContaining("application/json") },
      body: { id: expect.stringMatching(/^apt_/), status: "booked" },
    });
    expect(lastRequest()).toMatchObject({
      method: "POST",
      path: "/v1/appointments",
      query: { notify: "false" },
      headers: {
        authorization: `Bearer ${sandbox.credentials("scheduling").token}`,
        "content-type": "application/json",
        "x-api-version": "v1",
        "idempotency-key": "run-1:book",
      },
    });
    expect(JSON.parse(lastRequest()?.body ?? "")).toEqual(booking);
  });

  it("sends no idempotency header when the API has none", async () => {
    const plain = http.client(connections.client("plain"));
    await connections.inStep(() => plain.request({ method: "POST", path: "/v1/appointments", json: booking }));
    expect(lastRequest()?.headers["idempotency-key"]).toBeUndefined();
  });

  it("form-encodes a form body; an API's 4xx fails without retry, carrying the answer", async () => {
    const api = http.client(connections.client("api"));
    const refused = api.request({
      method: "POST",
      path: "/v1/appointments",
      form: { service: "Haircut", price: "45.00" },
    });
    await expect(refused).rejects.toBeInstanceOf(NonRetryableError);
    await expect(refused).rejects.toMatchObject({ response: { status: 422 } });
    expect(lastRequest()).toMatchObject({
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "service=Haircut&price=45.00",
    });
    await expect(api.request({ method: "POST", path: "/x", json: {}, form: {} })).rejects.toThrow(/json or form/);
  });

  it("getJson reads a JSON document, and refuses a body that is not JSON", async () => {
    const api = http.client(connections.client("api"));
    const list = await api.getJson({ path: "/v1/appointments", query: { status: "booked" } });
    expect(list).toMatchObject({ object: "list", data: expect.any(Array) });
    expect(lastRequest()).toMatchObject({ method: "GET", query: { status: "booked" } });

    const web = http.client(connections.client("web"));
    await expect(web.getJson({ path: "/status" })).rejects.toBeInstanceOf(ResponseShapeError);
  });
});
