import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import { credentialsScope } from "../../src/connections/vault/rotate-master-key.ts";
import type { Vault } from "../../src/connections/vault/vault.ts";
import type { Engine } from "../../src/engine/engine.ts";
import type { ErrorBody } from "../../src/server/http-errors.ts";
import type { AuditRecord } from "../../src/storage/connection-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections, testVault } from "../support/connections.ts";
import { testEngine } from "../support/engine.ts";
import { type RunningServer, startTestServer, type TestResponse } from "../support/server.ts";

const token = "test-api-token-123";
const secret = "sk_live_do-not-leak-4242";

describe.each(backends)("the connections API on $name", (backend) => {
  const t = useTestStorage(backend);
  let vault: Vault;
  let connections: Connections;
  let engine: Engine;
  let http: RunningServer;

  beforeEach(async () => {
    vault = testVault();
    connections = testConnections(
      t.storage,
      {
        crm: { baseUrl: "https://crm.example.com", auth: { type: "apiKey", in: "header", name: "X-Api-Key" } },
        ledger: { baseUrl: "https://ledger.example.com", auth: { type: "basic" } },
      },
      { vault },
    );
    engine = testEngine({ storage: t.storage, integrations: [], worker: false, connections });
    await engine.start();
    http = await startTestServer(engine, { apiTokens: [token], sources: {}, connections });
  });
  afterEach(async () => {
    await http.server.close();
    await engine.stop();
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${http.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: JSON.parse(text), text } as TestResponse;
  }

  async function storedFields(connectionId: string): Promise<Record<string, string>> {
    const sealed = (await t.storage.connections.getConnection(connectionId))?.sealedCredentials;
    if (!sealed) throw new Error(`no credentials stored for ${connectionId}`);
    return JSON.parse(vault.open(credentialsScope(connectionId), sealed));
  }

  it("stores credentials sealed: the stored row never holds the secret in clear", async () => {
    const answer = await call("PUT", "/api/connections/crm/credentials", {
      credentials: { apiKey: secret },
      expiresAt: "2030-01-31T00:00:00Z",
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toEqual({ resumedRuns: 0 });
    expect(answer.text).not.toContain(secret);

    const record = await t.storage.connections.getConnection("crm");
    expect(record?.sealedCredentials).toBeTruthy();
    expect(record?.sealedCredentials).not.toContain(secret);
    expect(record?.sealedCredentials).not.toContain(Buffer.from(secret).toString("base64"));
    expect(record?.expiresAt).toBe(Date.parse("2030-01-31T00:00:00Z"));
    expect(await storedFields("crm")).toEqual({ apiKey: secret });
  });

  it("merges new fields over the stored ones, or replaces them all with replace: true", async () => {
    await call("PUT", "/api/connections/ledger/credentials", { credentials: { username: "ops", password: "one" } });
    await call("PUT", "/api/connections/ledger/credentials", { credentials: { password: "two" } });
    expect(await storedFields("ledger")).toEqual({ username: "ops", password: "two" });
    const replaced = await call("PUT", "/api/connections/ledger/credentials", {
      credentials: { username: "robot" },
      replace: true,
      expiresAt: null,
    });
    expect(replaced.status).toBe(200);
    expect(await storedFields("ledger")).toEqual({ username: "robot" });
  });

  it("lists connections as summaries of state, with no credential in them", async () => {
    await call("PUT", "/api/connections/crm/credentials", { credentials: { apiKey: secret } });
    const list = await call("GET", "/api/connections");
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(secret);
    expect(list.json.connections.map((c: { id: string }) => c.id)).toEqual(["crm", "ledger"]);
    expect(list.json.connections[0]).toMatchObject({
      id: "crm",
      authType: "apiKey",
      status: "active",
      statusReason: null,
      hasStoredCredentials: true,
      circuit: { status: "closed" },
    });

    const one = await call("GET", "/api/connections/ledger");
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ id: "ledger", authType: "basic", hasStoredCredentials: false });
  });

  it("refuses malformed credential updates (400) without quoting the values sent", async () => {
    const path = "/api/connections/crm/credentials";
    const refused = async (body: unknown, message: RegExp) => {
      const answer = await call("PUT", path, body);
      expect([answer.status, answer.json.error], answer.text).toEqual([400, "invalid_credentials"]);
      expect(answer.json.message).toMatch(message);
      expect(answer.text).not.toContain(secret);
    };
    await refused(`{"credentials": {"apiKey": "${secret}"`, /not valid JSON/);
    await refused([secret], /must be a JSON object/);
    await refused({ apiKey: secret }, /unknown key "apiKey"/);
    await refused({ credentials: secret }, /credentials must be an object/);
    await refused({ credentials: {} }, /at least one field/);
    await refused({ credentials: { apiKey: "" } }, /credentials\.apiKey must be a non-empty string/);
    await refused({ credentials: { apiKey: 42 } }, /credentials\.apiKey must be a non-empty string/);
    await refused({ credentials: { apiKey: secret }, expiresAt: "next week" }, /expiresAt must be an ISO 8601/);
    await refused({ credentials: { apiKey: secret }, replace: "yes" }, /replace must be true or false/);

    const form = await call("PUT", path, `apiKey=${secret}`, { "content-type": "application/x-www-form-urlencoded" });
    expect([form.status, form.json.error]).toEqual([415, "unsupported_content_type"]);
    expect(await t.storage.connections.getConnection("crm")).toBeNull();
  });

  it("answers 404 for a connection that is not configured", async () => {
    for (const [method, path] of [
      ["GET", "/api/connections/nope"],
      ["GET", "/api/connections/nope/incidents"],
      ["PUT", "/api/connections/nope/credentials"],
    ] as const) {
      const answer = await call(method, path, method === "PUT" ? { credentials: { apiKey: secret } } : undefined);
      expect([answer.status, answer.json.error], `${method} ${path}`).toEqual([404, "unknown_connection"]);
      expect(answer.json.message).toContain("crm, ledger");
    }
  });

  it("answers 401 without a valid bearer token, and stores nothing", async () => {
    const paths = [
      ["GET", "/api/connections"],
      ["GET", "/api/connections/crm"],
      ["GET", "/api/connections/crm/incidents"],
      ["GET", "/api/audit"],
      ["PUT", "/api/connections/crm/credentials"],
    ] as const;
    for (const [method, path] of paths) {
      const body = method === "PUT" ? { credentials: { apiKey: secret } } : undefined;
      const missing = await call(method, path, body, { authorization: "" });
      expect([missing.status, missing.json.error], `${method} ${path}`).toEqual([401, "unauthorized"]);
      const wrong = await call(method, path, body, { authorization: "Bearer nope" });
      expect(wrong.status, `${method} ${path}`).toBe(401);
    }
    expect(await t.storage.connections.getConnection("crm")).toBeNull();

    const closed = await startTestServer(engine, { sources: {}, connections });
    try {
      const get = await fetch(`${closed.url}/api/connections`, { headers: { authorization: `Bearer ${token}` } });
      expect([get.status, ((await get.json()) as ErrorBody).error]).toEqual([401, "api_disabled"]);
    } finally {
      await closed.server.close();
    }
  });

  it("lists a connection's incidents, newest first", async () => {
    const at = Date.now();
    await t.storage.connections.recordIncident({
      id: "i-1",
      connectionId: "crm",
      kind: "auth_failed",
      detail: "refresh refused",
      at,
    });
    await t.storage.connections.recordIncident({
      id: "i-2",
      connectionId: "crm",
      kind: "auth_restored",
      detail: "credentials updated",
      at: at + 1,
    });
    await t.storage.connections.recordIncident({
      id: "i-3",
      connectionId: "ledger",
      kind: "circuit_opened",
      detail: "5 failures",
      at,
    });
    const answer = await call("GET", "/api/connections/crm/incidents");
    expect(answer.status).toBe(200);
    expect(answer.json.incidents.map((i: { id: string }) => i.id)).toEqual(["i-2", "i-1"]);
    const limited = await call("GET", "/api/connections/crm/incidents?limit=1");
    expect(limited.json.incidents).toHaveLength(1);
  });

  it("lists audit records by run and by connection, with their headers as objects", async () => {
    const at = Date.now();
    const record = (id: string, connectionId: string, runId: string | null, offset: number): AuditRecord => ({
      id,
      connectionId,
      runId,
      stepName: runId === null ? null : "sync",
      method: "POST",
      url: `https://${connectionId}.example.com/v1/things`,
      status: 201,
      error: null,
      durationMs: 12,
      requestHeaders: JSON.stringify({ "content-type": "application/json", "x-api-key": "[redacted]" }),
      requestBody: '{"name":"Ada"}',
      responseHeaders: JSON.stringify({ "content-type": "application/json" }),
      responseBody: '{"id":1}',
      at: at + offset,
    });
    await t.storage.connections.appendAudit([
      record("a-1", "crm", "run-1", 0),
      record("a-2", "crm", "run-2", 1),
      record("a-3", "ledger", "run-1", 2),
      { ...record("a-4", "crm", null, 3), status: null, error: "timed out", responseHeaders: null, responseBody: null },
    ]);
    const ids = async (query: string) => {
      const answer = await call("GET", `/api/audit${query}`);
      expect(answer.status, answer.text).toBe(200);
      return answer.json.records.map((r: { id: string }) => r.id);
    };
    expect(await ids("")).toEqual(["a-4", "a-3", "a-2", "a-1"]);
    expect(await ids("?run=run-1")).toEqual(["a-3", "a-1"]);
    expect(await ids("?connection=crm")).toEqual(["a-4", "a-2", "a-1"]);
    expect(await ids("?run=run-1&connection=crm")).toEqual(["a-1"]);
    expect(await ids("?connection=crm&limit=2")).toEqual(["a-4", "a-2"]);

    const [first] = (await call("GET", "/api/audit?run=run-2")).json.records;
    expect(first).toMatchObject({
      id: "a-2",
      stepName: "sync",
      requestHeaders: { "content-type": "application/json", "x-api-key": "[redacted]" },
      responseHeaders: { "content-type": "application/json" },
      requestBody: '{"name":"Ada"}',
      status: 201,
    });
    const [failed] = (await call("GET", "/api/audit?connection=crm&limit=1")).json.records;
    expect(failed).toMatchObject({ status: null, error: "timed out", responseHeaders: null });

    const bad = await call("GET", "/api/audit?limit=0");
    expect([bad.status, bad.json.error]).toEqual([400, "invalid_limit"]);
  });
});
