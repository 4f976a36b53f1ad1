import { createHmac } from "node:crypto";
import { FormData } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { ErrorResponse } from "../../src/sdk/errors.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("the outbound client ($name)", (backend) => {
  const t = useTestStorage(backend);
  let api: ApiTestServer;
  let connections: Connections | undefined;
  let engine: Engine | undefined;

  beforeEach(async () => {
    api = new ApiTestServer();
    await api.start();
  });
  afterEach(async () => {
    await engine?.stop({ deadlineMs: 1000 });
    await connections?.stop();
    engine = undefined;
    connections = undefined;
    await api.close();
  });

  /** Runs `body` as the single step of a run through connection "api"; resolves with the finished run. */
  async function runStep(
    config: Partial<ConnectionConfig>,
    body: (client: ReturnType<Connections["client"]>) => Promise<unknown>,
    retries = { maxAttempts: 3, initialDelay: 10, maxDelay: 20 },
  ) {
    connections = testConnections(t.storage, { api: { baseUrl: `${api.origin}/v1`, ...config } });
    const integration = defineIntegration({
      id: "calls-api",
      trigger: { event: "go" },
      retries,
      run: ({ step, connection }) => step.run("call", () => body(connection("api"))),
    });
    engine = testEngine({ storage: t.storage, integrations: [integration], connections });
    await engine.start();
    const { runIds } = await engine.send({ type: "go", payload: {} });
    const runId = runIds[0] as string;
    return waitForRunStatus(t.storage, runId, ["succeeded", "failed", "dead"]);
  }

  it("sends JSON under the base path and returns the parsed response", async () => {
    api.respond = () => ({ status: 201, body: { id: "c_1" } });
    const run = await runStep({}, async (client) => {
      const response = await client.post<{ id: string }>("/contacts", { json: { email: "a@example.com" } });
      return { status: response.status, id: response.body.id };
    });
    expect(run.status).toBe("succeeded");
    expect(JSON.parse(run.outputJson ?? "null")).toEqual({ status: 201, id: "c_1" });
    const [request] = api.requests;
    expect(request?.path).toBe("/v1/contacts");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual({ email: "a@example.com" });
  });

  it("encodes form and multipart bodies", async () => {
    const form = new FormData();
    form.append("file", new Blob(["hello"]), "hello.txt");
    await runStep({}, async (client) => {
      await client.post("/charges", { form: { amount: 1200, currency: "eur" } });
      await client.post("/files", { multipart: form });
    });
    expect(api.requests[0]?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(api.requests[0]?.body).toBe("amount=1200&currency=eur");
    expect(api.requests[1]?.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    expect(api.requests[1]?.body).toContain("hello");
  });

  it("sends the step's idempotency key on writes, the same on every retry of the step, and none on reads", async () => {
    api.queue({ status: 503 });
    const run = await runStep({}, async (client) => {
      await client.get("/contacts");
      await client.post("/invoices", { json: { n: 1 } });
      await client.post("/payments", { json: { n: 2 } });
    });
    expect(run.status).toBe("succeeded");
    const get = api.requests.find((r) => r.method === "GET");
    const invoices = api.requests.filter((r) => r.path === "/v1/invoices");
    const payment = api.requests.find((r) => r.path === "/v1/payments");
    expect(get?.headers["idempotency-key"]).toBeUndefined();
    // The first GET got the 503; the retry repeats the whole step, and its writes carry the same keys.
    expect(invoices).toHaveLength(1);
    expect(invoices[0]?.headers["idempotency-key"]).toBe(`${run.id}:call`);
    expect(payment?.headers["idempotency-key"]).toBe(`${run.id}:call:2`);
  });

  it("can rename or switch off the idempotency header", async () => {
    await runStep({ idempotencyHeader: "X-Request-Key" }, (client) => client.post("/a", { json: {} }));
    expect(api.requests[0]?.headers["x-request-key"]).toMatch(/:call$/);
    await engine?.stop();
    await connections?.stop();
    await runStep({ idempotencyHeader: false }, (client) => client.post("/b", { json: {} }));
    expect(api.requests[1]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("applies each auth scheme", async () => {
    const schemes: [Partial<ConnectionConfig>, (r: (typeof api.requests)[number]) => void][] = [
      [
        { auth: { type: "apiKey", in: "header", name: "X-Api-Key" }, credentials: { apiKey: "key-header-123" } },
        (r) => expect(r.headers["x-api-key"]).toBe("key-header-123"),
      ],
      [
        { auth: { type: "apiKey", in: "query", name: "api_key" }, credentials: { apiKey: "key-query-123" } },
        (r) => expect(r.query.get("api_key")).toBe("key-query-123"),
      ],
      [
        { auth: { type: "bearer" }, credentials: { token: "bearer-token-123" } },
        (r) => expect(r.headers.authorization).toBe("Bearer bearer-token-123"),
      ],
      [
        { auth: { type: "basic" }, credentials: { username: "ann", password: "pass-word-123" } },
        (r) => expect(r.headers.authorization).toBe(`Basic ${Buffer.from("ann:pass-word-123").toString("base64")}`),
      ],
      [
        {
          auth: {
            type: "custom",
            sign: (request, credentials) => {
              const mac = createHmac("sha256", credentials.signingKey ?? "");
              request.headers["x-signature"] = mac.update(`${request.method}\n${request.body ?? ""}`).digest("hex");
            },
          },
          credentials: { signingKey: "signing-key-123" },
        },
        (r) =>
          expect(r.headers["x-signature"]).toBe(
            createHmac("sha256", "signing-key-123").update(`POST\n{"a":1}`).digest("hex"),
          ),
      ],
    ];
    for (const [config, check] of schemes) {
      const before = api.requests.length;
      const run = await runStep(config, (client) => client.post("/x", { json: { a: 1 } }));
      expect(run.status).toBe("succeeded");
      check(api.requests[before] as (typeof api.requests)[number]);
      await engine?.stop();
      await connections?.stop();
    }
  });

  it("fails the run on a 4xx, with the response attached and no retry", async () => {
    api.respond = () => ({ status: 422, body: { error: "email is invalid" } });
    let caught: { response?: ErrorResponse } | undefined;
    const run = await runStep({}, async (client) => {
      try {
        return await client.post("/contacts", { json: { email: "nope" } });
      } catch (error) {
        caught = error as { response?: ErrorResponse };
        throw error;
      }
    });
    expect(run.status).toBe("failed");
    expect(api.requests).toHaveLength(1);
    expect(caught?.response?.status).toBe(422);
    expect(caught?.response?.body).toContain("email is invalid");
    expect(run.lastError).toContain("answered 422");
  });

  it("says in the run's error why the API refused the request: its message, or the start of its body", async () => {
    api.respond = () => ({
      status: 400,
      body: {
        Fault: {
          Error: [{ Message: "Business Validation Error", Detail: "Duplicate Document Number Error", code: "6140" }],
          type: "ValidationFault",
        },
      },
    });
    const refused = await runStep({}, (client) => client.post("/invoice", { json: { DocNumber: "SO-1" } }));
    expect(refused.lastError).toContain(
      "answered 400 (Business Validation Error: Duplicate Document Number Error): the API refused the request",
    );
    await engine?.stop();
    await connections?.stop();

    api.respond = () => ({
      status: 404,
      headers: { "content-type": "text/plain" },
      body: `No such route.\n${"x".repeat(1000)}`,
    });
    const missing = await runStep({}, (client) => client.get("/nowhere"));
    const reason = /answered 404 \((.*)\): the API refused/.exec(missing.lastError ?? "")?.[1] ?? "";
    expect(reason).toMatch(/^No such route\. x+…$/);
    expect(reason.length).toBeLessThanOrEqual(300);
  });

  it("quotes a refusal that echoes the credential with the credential redacted", async () => {
    const apiKey = "api-key-echoed-P2vN7qRt";
    api.respond = (request) => ({
      status: 400,
      body: { message: `key ${request.headers["x-api-key"]} may not write` },
    });
    const run = await runStep(
      { auth: { type: "apiKey", in: "header", name: "X-Api-Key" }, credentials: { apiKey } },
      (client) => client.post("/contacts", { json: {} }),
    );
    expect(run.lastError).toContain("answered 400 (key [REDACTED] may not write)");
    expect(run.lastError).not.toContain(apiKey);
  });

  it("retries 5xx, 408 and timeouts, then succeeds", async () => {
    api.queue({ status: 500 }, { status: 408 }, { status: 200, delayMs: 1500 });
    const run = await runStep({ timeouts: { headers: "300ms" }, circuit: false }, (client) => client.get("/slow"), {
      maxAttempts: 5,
      initialDelay: 10,
      maxDelay: 20,
    });
    expect(run.status).toBe("succeeded");
    expect(api.requests).toHaveLength(4);
    const steps = await t.storage.listSteps(run.id);
    expect(steps[0]?.failures).toBe(3);
    const audit = await waitFor("the four exchanges in the audit trail", async () => {
      const records = await t.storage.connections.listAudit({ runId: run.id });
      return records.length === 4 ? records : null;
    });
    expect(audit.map((r) => r.status ?? r.error).reverse()).toEqual([
      500,
      408,
      expect.stringContaining("headers timeout"),
      200,
    ]);
  });

  it("refuses to send credentials to another host", async () => {
    const run = await runStep({ auth: { type: "bearer" }, credentials: { token: "bearer-token-123" } }, (client) =>
      client.get("http://127.0.0.2:1/steal"),
    );
    expect(run.status).toBe("failed");
    expect(run.lastError).toContain("only talks to");
  });

  it("records every exchange in the audit trail, redacted and findable by run and by connection", async () => {
    api.respond = () => ({ status: 200, body: { access_token: "leaked-token-456", name: "Ann" } });
    const run = await runStep(
      { auth: { type: "apiKey", in: "query", name: "api_key" }, credentials: { apiKey: "key-query-123" } },
      (client) => client.post("/login", { json: { password: "hunter2-secret", user: "ann" } }),
    );
    const records = await waitFor("the audit record", async () => {
      const found = await t.storage.connections.listAudit({ runId: run.id });
      return found.length > 0 ? found : null;
    });
    const record = records[0];
    expect(record).toMatchObject({ connectionId: "api", runId: run.id, stepName: "call", method: "POST", status: 200 });
    expect(record?.url).toBe(`${api.origin}/v1/login`);
    expect(record?.requestBody).toContain('"user":"ann"');
    const everything = JSON.stringify(records);
    for (const secret of ["key-query-123", "hunter2-secret", "leaked-token-456"])
      expect(everything).not.toContain(secret);
    expect(await t.storage.connections.listAudit({ connectionId: "api" })).toHaveLength(1);
  });

  it("returns a large JSON answer parsed and keeps its start in the audit trail, redacted as a small one is", async () => {
    const rows = Array.from({ length: 3_000 }, (_, i) => ({ id: i, name: `Customer ${i}`, note: "Zoë 😀" }));
    const plain = { rows };
    const secretive = { rows, owner: { refresh_token: "leaked-refresh-123456" } };
    api.queue({ status: 200, body: plain }, { status: 200, body: secretive });
    const run = await runStep({}, async (client) => {
      const first = await client.get<typeof plain>("/rows");
      const second = await client.get<typeof secretive>("/rows");
      return {
        first: first.body.rows.length,
        owner: second.body.owner.refresh_token.length,
        equal: JSON.stringify(first.body) === JSON.stringify(plain),
        text: first.text.length,
      };
    });
    expect(run.status).toBe("succeeded");
    expect(JSON.parse(run.outputJson ?? "null")).toEqual({
      first: 3_000,
      owner: 21,
      equal: true,
      text: JSON.stringify(plain).length,
    });
    const records = await waitFor("both audit records", async () => {
      const found = await t.storage.connections.listAudit({ runId: run.id });
      return found.length === 2 ? found : null;
    });
    const total = (body: unknown) => Buffer.byteLength(JSON.stringify(body));
    const bodies = records.map((record) => record.responseBody ?? "").sort((a, b) => a.length - b.length);
    const audited = bodies.find((body) => body.endsWith(`[truncated, ${total(plain)} bytes total]`));
    expect(audited?.startsWith('{"rows":[{"id":0,"name":"Customer 0","note":"Zoë 😀"}')).toBe(true);
    expect(Buffer.byteLength(audited?.split("…[truncated")[0] ?? "")).toBeLessThanOrEqual(16 * 1024);
    const redacted = bodies.find((body) => body !== audited);
    expect(redacted).toContain("[truncated,");
    expect(JSON.stringify(records)).not.toContain("leaked-refresh-123456");
  });
});
