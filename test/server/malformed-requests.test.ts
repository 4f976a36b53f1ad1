/**
 * Thousands of generated malformed requests, sent as real HTTP over loopback: each must get
 * the status the documented rules promise, none a 5xx, and the server must stay healthy.
 *
 * What is generated (request-arbitraries.ts): requests to every configured webhook source,
 * signed correctly or wrongly over bodies the provider would send or could not have sent;
 * garbage to /hooks/* (known and unknown sources, any content type, junk signature headers,
 * invalid UTF-8, NULs, deep nesting, sizes around the body limit, chunked or not); event API
 * calls with every kind of bad token, content type, body and Idempotency-Key, plus replays
 * and reuses of a key; other paths and methods; framing only a raw socket can send.
 *
 * Replay a run with TENON_FUZZ_SEED=<seed> (the failure message prints it).
 *
 * Known server bugs it finds (the oracle below states the correct behaviour, so it fails until they are fixed):
 *   - a JSON content type with parameters (`application/json; charset=utf-8`, what Stripe sends) is 415 on
 *     both routes: create-server.ts registers the JSON parser as a RegExp ending in `json$`, and Fastify
 *     tests it against the content type with its parameters;
 *   - a correctly signed webhook whose delivery-id header is over 500 characters is 503: hooks-route.ts
 *     quarantines it under that same id, which the engine refuses again;
 *   - a path no route has answers 415 or 413 instead of 404 when its content type or size is wrong
 *     (Fastify parses bodies for its not-found handler too);
 *   - PostgreSQL only: a NUL in a quarantine reason (JSON.parse quotes the body) or in a concurrency key,
 *     and event ids with unpaired surrogates, fail the insert (503), and group commit fails every event
 *     committed in the same transaction with it, so unrelated requests get 503 too.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import pino from "pino";
import { Pool } from "undici";
import { describe, expect, it } from "vitest";
import { resolveWebhookSources } from "../../src/ingestion/webhooks/webhook-sources.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { createServer } from "../../src/server/create-server.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { postgresBackend, sqliteBackend, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import {
  apiToken,
  bodyLimit,
  type HttpStep,
  headerBytes,
  knownSources,
  now,
  publicUrl,
  reservedSources,
  type Scenario,
  type Step,
  scenarioArb,
  webhookConfig,
} from "./request-arbitraries.ts";

const concurrency = 20;
const seed = Number(process.env.TENON_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Node's default --max-http-header-size. */
const nodeHeaderLimit = 16 * 1024;

// ---------------------------------------------------------------- the oracle: the documented rules

interface Expected {
  statuses: number[];
  /** The rule that decided it, for the failure message. */
  rule: string;
  route: "hooks" | "api" | "dashboard" | "none";
  /** A keyed event that commits (202) binds its key to this body. */
  binds?: { scope: string; fingerprint: string };
}

const exactly = (status: number, rule: string, route: Expected["route"] = "none"): Expected => ({
  statuses: [status],
  rule,
  route,
});

const dashboardIndex = '<!doctype html><html><body><div id="root"></div></body></html>';

type Route =
  | { kind: "hooks"; source: string }
  | { kind: "api" }
  | { kind: "dashboard" }
  | { kind: "none" }
  | { kind: "undecodable" };

/** The server's own paths: a browser asking for a page there gets no dashboard. */
const serverPath = /^\/(api|auth|hooks|oauth|metrics|readyz)(\/|$)|^\/health/;

function routeOf(method: string, path: string, headers: Record<string, string>): Route {
  const pathname = path.split("?")[0] ?? "";
  if (method === "GET" || method === "HEAD") {
    const accept = Object.entries(headers).find(([name]) => name.toLowerCase() === "accept")?.[1] ?? "";
    const page = pathname === "/" || (/\btext\/html\b/i.test(accept) && !serverPath.test(pathname));
    return page ? { kind: "dashboard" } : { kind: "none" };
  }
  if (method !== "POST") return { kind: "none" };
  if (pathname === "/api/events") return { kind: "api" };
  const hook = /^\/hooks\/([^/]*)$/.exec(pathname);
  if (!hook) return { kind: "none" };
  try {
    return { kind: "hooks", source: decodeURIComponent(hook[1] ?? "") };
  } catch {
    return { kind: "undecodable" };
  }
}

/** The media type, lower-cased, without parameters; undefined when there is no Content-Type. */
function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(";")[0]?.trim().toLowerCase();
}
const isJson = (mediaType: string | undefined) =>
  mediaType !== undefined && /^application\/([\w.+-]+\+)?json$/.test(mediaType);
const isForm = (mediaType: string | undefined) => mediaType === "application/x-www-form-urlencoded";

/** The fingerprint of the body that first committed under each (source, Idempotency-Key). */
type IdempotencyModel = ReadonlyMap<string, string>;

/**
 * The status a request must get, from the documented rules, in the order the server applies them:
 *   - headers over Node's limit → 431 (Node answers before any route runs);
 *   - GET or HEAD of `/`, or of any path outside the server's own from a browser (Accept: text/html) → 200, the
 *     dashboard's index.html (its app routes pages itself);
 *   - a path or method no route has → 404; a source segment that cannot be percent-decoded → 400;
 *   - the event API: a missing or wrong bearer token → 401, before the body is read (api-access.ts);
 *   - POST /hooks/:source with an unknown source → 404, before the body is read;
 *   - a content type other than JSON (application/json, application/*+json, parameters allowed)
 *     or a form → 415. Without a Content-Type, Fastify runs the handler with no body when there is
 *     none (no Content-Length or 0, no Transfer-Encoding), and answers 415 when there is one;
 *   - a body over the limit → 413;
 *   - webhooks: not verified → 401; verified → 200 (events, or Slack's challenge) or 202 (quarantined);
 *   - the event API: a form → 415, then the body rules (400), then Idempotency-Key (422).
 */
function expectedFor(step: HttpStep, model: IdempotencyModel): Expected {
  if (headerBytes(step.headers) + step.path.length > nodeHeaderLimit) {
    return exactly(431, "headers over Node's limit are refused by Node itself");
  }
  const route = routeOf(step.method, step.path, step.headers);
  if (route.kind === "dashboard") {
    return exactly(200, "a browser's GET of a page outside the server's paths is the dashboard", "dashboard");
  }
  if (route.kind === "none") return exactly(404, "any other path or method is 404");
  if (route.kind === "undecodable") return exactly(400, "a path the router cannot decode is Fastify's 400");
  if (route.kind === "hooks" && !(knownSources as string[]).includes(route.source)) {
    return exactly(404, "an unknown source is 404 before the body is read", "hooks");
  }
  const kind = route.kind;
  if (kind === "api" && !step.authorized) return exactly(401, "a missing or wrong bearer token is 401, first", "api");
  const mediaType = mediaTypeOf(step.headers["content-type"]);
  const hasBody = step.body.length > 0;
  if (mediaType === undefined ? hasBody : !isJson(mediaType) && !isForm(mediaType)) {
    return exactly(415, "only JSON and form bodies are accepted; a body without a content type too", kind);
  }
  if (step.body.length > bodyLimit) return exactly(413, `a body over ${bodyLimit} bytes is 413`, kind);
  return kind === "hooks" ? expectedForWebhook(step) : expectedForEvent(step, mediaType, model);
}

function expectedForWebhook(step: HttpStep): Expected {
  if (step.signing !== "valid") return exactly(401, `a request signed "${step.signing}" is 401`, "hooks");
  switch (step.fate) {
    case "events":
      return exactly(200, "a correctly signed, parseable body is 200 { id, duplicate }", "hooks");
    case "challenge":
      return exactly(200, "Slack's url_verification is answered with its challenge", "hooks");
    case "quarantine":
      return exactly(202, "a correctly signed body that cannot become events is quarantined: 202", "hooks");
    default:
      // Unpaired surrogates in ids or types, or invalid UTF-8 inside JSON strings: storing the text
      // (lossily) or quarantining it are both defensible; refusing it or failing is not.
      return {
        statuses: [200, 202],
        rule: "text that is not well-formed Unicode is stored (200) or quarantined (202)",
        route: "hooks",
      };
  }
}

function expectedForEvent(step: HttpStep, mediaType: string | undefined, model: IdempotencyModel): Expected {
  if (!isJson(mediaType)) return exactly(415, "the event API takes JSON only", "api");
  const key = step.headers["idempotency-key"];
  const verdict = judgeEventBody(step.body, key !== undefined);
  if (verdict.status === 400) return exactly(400, verdict.rule, "api");
  if (key !== undefined && (key.length === 0 || key.length > 255)) {
    return exactly(400, "an Idempotency-Key must be 1-255 characters", "api");
  }
  if (verdict.status === "either") return { statuses: [202, 400], rule: verdict.rule, route: "api" };
  if (key === undefined) return exactly(202, "a valid event is 202", "api");
  const scope = `${verdict.source}\u0000${key}`;
  const fingerprint = createHash("sha256").update(step.body).digest("hex");
  const first = model.get(scope);
  if (first === undefined) {
    return { ...exactly(202, "a valid event with a new Idempotency-Key is 202", "api"), binds: { scope, fingerprint } };
  }
  return first === fingerprint
    ? exactly(202, "the same Idempotency-Key with the same body replays the first answer", "api")
    : exactly(422, "the same Idempotency-Key with another body is 422", "api");
}

type BodyVerdict = { status: 202 | "either"; rule: string; source: string } | { status: 400; rule: string };

/**
 * The documented event rules: { type (1-200), payload, source? (1-200, not reserved), id? (1-500) }, no NULs.
 * With an Idempotency-Key the key becomes the event's id, so the body's own id is not looked at.
 */
function judgeEventBody(raw: Buffer, keyed: boolean): BodyVerdict {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    return { status: 400, rule: "a body that is not JSON is 400" };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { status: 400, rule: "a body that is not a JSON object is 400" };
  }
  const { type, source, id, payload } = body as Record<string, unknown>;
  if (typeof source === "string" && reservedSources.has(source)) {
    return { status: 400, rule: "a webhook source or schedule cannot be claimed: 400" };
  }
  const effectiveSource = source ?? "api";
  const effectiveId = keyed ? undefined : id;
  const strings = [type, effectiveSource, effectiveId];
  const valid =
    typeof type === "string" &&
    type.length >= 1 &&
    type.length <= 200 &&
    typeof effectiveSource === "string" &&
    effectiveSource.length >= 1 &&
    effectiveSource.length <= 200 &&
    (effectiveId === undefined ||
      (typeof effectiveId === "string" && effectiveId.length >= 1 && effectiveId.length <= 500)) &&
    !strings.some((s) => typeof s === "string" && s.includes("\u0000")) &&
    !hasNonFinite(payload);
  if (!valid) return { status: 400, rule: "an invalid event (type, source, id or payload) is 400" };
  if (strings.some((s) => typeof s === "string" && !isWellFormed(s)) || !isUtf8(raw)) {
    return {
      status: "either",
      rule: "text that is not well-formed Unicode may be accepted (202) or refused (400)",
      source: effectiveSource,
    };
  }
  return { status: 202, rule: "a valid event is 202", source: effectiveSource };
}

function hasNonFinite(value: unknown): boolean {
  if (typeof value === "number") return !Number.isFinite(value);
  if (typeof value !== "object" || value === null) return false;
  return Object.values(value).some(hasNonFinite);
}

const isWellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- the server under test

/** An integration whose concurrency key throws on most payloads: such events are stored quarantined, still 200. */
const integrations = [
  defineIntegration({
    id: "charge-per-customer",
    trigger: { event: "charge.succeeded" },
    concurrency: {
      key: (event) => (event.payload as { data: { object: { customer: string } } }).data.object.customer,
    },
    run: () => undefined,
  }),
];

interface Harness {
  storage: Storage;
  pool: Pool;
  port: number;
  /** Every log line at error level or above: none is expected. */
  errorLogs: string[];
  close(): Promise<void>;
}

async function startServer(storage: Storage): Promise<Harness> {
  const errorLogs: string[] = [];
  const logger = pino({ level: "error" }, { write: (line: string) => errorLogs.push(line) });
  const engine = testEngine({ storage, integrations, worker: false, logger });
  await engine.start();
  // A dashboard build of one file, so that its pages are known whether or not the real one was built.
  const dashboardDirectory = mkdtempSync(join(tmpdir(), "tenon-fuzz-dashboard-"));
  writeFileSync(join(dashboardDirectory, "index.html"), dashboardIndex);
  const server = createServer({
    engine,
    logger,
    webhookSources: resolveWebhookSources(webhookConfig),
    apiTokens: [apiToken],
    bodyLimit,
    publicUrl,
    dashboardDirectory,
    now: () => now,
  });
  const origin = await server.listen({ host: "127.0.0.1", port: 0 });
  const pool = new Pool(origin, { connections: concurrency });
  return {
    storage,
    pool,
    port: Number(new URL(origin).port),
    errorLogs,
    async close() {
      await pool.close();
      await server.close();
      await engine.stop();
      rmSync(dashboardDirectory, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- sending

interface Answer {
  status: number | null;
  contentType: string;
  text: string;
  /** Set when no HTTP answer came back (reset, timeout). */
  failure?: string;
}

async function sendHttp(pool: Pool, step: HttpStep): Promise<Answer> {
  const bodyless = step.method === "GET" || step.method === "HEAD";
  const chunks = Array.from({ length: Math.ceil(step.body.length / 1000) }, (_, i) =>
    step.body.subarray(i * 1000, (i + 1) * 1000),
  );
  try {
    const response = await pool.request({
      method: step.method,
      path: step.path,
      headers: step.headers,
      body: bodyless ? undefined : step.streamed ? Readable.from(chunks) : step.body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await response.body.text();
    return { status: response.statusCode, contentType: String(response.headers["content-type"] ?? ""), text };
  } catch (error) {
    return { status: null, contentType: "", text: "", failure: String(error) };
  }
}

/** Writes the bytes, half-closes, and reads whatever comes back until the server closes. */
function sendRaw(port: number, bytes: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const received: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error("no answer within 5 s")), 5000);
    let failure: string | undefined;
    socket.on("data", (chunk) => received.push(chunk));
    socket.on("error", (error) => {
      failure = String(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(received).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      if (status) resolve({ status: Number(status), contentType: "", text });
      else
        resolve({ status: null, contentType: "", text, failure: failure ?? "the connection closed without an answer" });
    });
    socket.end(bytes);
  });
}

// ---------------------------------------------------------------- checking

interface Failure {
  step: Step;
  expected: Expected;
  answer: Answer;
  problem: string;
}

async function runScenario(harness: Harness, scenario: Scenario): Promise<Failure[]> {
  const send = (step: Step) =>
    step.transport === "raw" ? sendRaw(harness.port, step.bytes) : sendHttp(harness.pool, step);
  const expectationOf = (step: Step, model: IdempotencyModel): Expected =>
    step.transport === "raw"
      ? step.truncatedBody
        ? exactly(401, "the API checks the token before reading the body; these bytes carry none")
        : exactly(400, "framing Node's parser refuses is 400")
      : expectedFor(step, model);

  if (scenario.kind === "in-flight") {
    const answers = await Promise.all(scenario.steps.map(send));
    const expected: Expected = {
      ...expectationOf(scenario.steps[0] as Step, new Map()),
      statuses: [202, 409],
      rule: "while the first keyed request commits, the others get 409",
    };
    const failures = scenario.steps.map((step, i) => judge(harness, step, expected, answers[i] as Answer, false));
    return (await Promise.all(failures)).filter((f) => f !== null);
  }

  // In order, and each expectation from what the earlier answers actually committed: one wrong
  // answer is reported once, not again as the wrong consequences it has for the next request.
  const model = new Map<string, string>();
  const failures: Failure[] = [];
  let previous: Answer | undefined;
  for (const step of scenario.steps) {
    const expected = expectationOf(step, model);
    const answer = await send(step);
    if (expected.binds && answer.status === 202) model.set(expected.binds.scope, expected.binds.fingerprint);
    const redelivered = scenario.kind === "redelivery" && (previous?.status === 200 || previous?.status === 202);
    const failure = await judge(harness, step, expected, answer, redelivered);
    if (failure) failures.push(failure);
    previous = answer;
  }
  return failures;
}

async function judge(
  harness: Harness,
  step: Step,
  expected: Expected,
  answer: Answer,
  redelivered: boolean,
): Promise<Failure | null> {
  const problem =
    statusProblem(expected, answer) ??
    (step.transport === "http" ? await shapeProblem(harness.storage, step, expected, answer, redelivered) : null);
  return problem ? { step, expected, answer, problem } : null;
}

function statusProblem(expected: Expected, answer: Answer): string | null {
  if (answer.status === null) return `no answer (${answer.failure}), expected ${expected.statuses.join(" or ")}`;
  if (expected.statuses.includes(answer.status)) return null;
  return `expected ${expected.statuses.join(" or ")}, got ${answer.status}`;
}

/** The documented answer bodies: `{ error, message }` for every error, `{ id, duplicate }` for events, and what was stored. */
async function shapeProblem(
  storage: Storage,
  step: HttpStep,
  expected: Expected,
  answer: Answer,
  redelivered: boolean,
): Promise<string | null> {
  const status = answer.status ?? 0;
  if (step.method === "HEAD") return null;
  if (expected.route === "dashboard") return answer.text === dashboardIndex ? null : "not the dashboard's index.html";
  if (step.fate === "challenge" && status === 200) {
    return answer.text === step.challenge ? null : "Slack's challenge was not echoed back";
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return `the ${status} answer is not JSON: ${answer.text.slice(0, 80)}`;
  }
  if (status >= 400) {
    return typeof body.error === "string" && typeof body.message === "string"
      ? null
      : "an error answer without { error, message }";
  }
  const answered = Array.isArray(body.events) ? (body.events as Record<string, unknown>[]) : [body];
  if (answered.some((a) => typeof a.id !== "string" || typeof a.duplicate !== "boolean")) {
    return "an acceptance without { id, duplicate }";
  }
  if (expected.route !== "hooks") return null;
  if (redelivered && answered.some((a) => a.duplicate !== true)) return "a redelivery was not reported as a duplicate";
  if (status === 202 && body.quarantined !== true) return "a 202 webhook answer without quarantined: true";
  for (const a of answered) {
    const stored = await storage.getEvent(a.id as string);
    if (!stored) return `answered ${status} with event ${a.id}, which is not stored`;
    if (status === 202 && a.duplicate === false && stored.status !== "quarantined") {
      return `answered 202 but event ${a.id} is stored as ${stored.status}, not quarantined`;
    }
  }
  return null;
}

// ---------------------------------------------------------------- reporting

const preview = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s);

function describeStep(step: Step): string {
  if (step.transport === "raw") return `raw bytes: ${preview(JSON.stringify(step.bytes.toString("latin1")), 300)}`;
  const headers = Object.entries(step.headers).map(
    ([name, value]) => `    ${name}: ${preview(JSON.stringify(value), 120)}`,
  );
  const body = JSON.stringify(step.body.toString("utf8"));
  return [
    `${step.method} ${preview(step.path, 200)}${step.streamed ? " (chunked)" : ""}`,
    ...headers,
    `    body (${step.body.length} B${isUtf8(step.body) ? "" : ", not UTF-8"}): ${preview(body, 300)}`,
    `    built as: ${step.group}: ${step.note}`,
  ].join("\n");
}

function describeFailure(failure: Failure): string {
  return [
    `  ${failure.problem} (rule: ${failure.expected.rule})`,
    `  ${describeStep(failure.step)}`,
    `    answer: ${failure.answer.status ?? "none"} ${preview(failure.answer.text, 300)}`,
  ].join("\n");
}

const describedScenarioArb = scenarioArb.map((scenario) =>
  Object.assign(scenario, {
    [fc.toStringMethod]: () => `${scenario.kind}:\n${scenario.steps.map(describeStep).join("\n")}`,
  }),
);

/** One example per kind of failure (expected vs got), worst first, with how many of each request kind hit it. */
function report(
  failures: { index: number; failure: Failure }[],
  total: number,
  errorLogs: string[],
  shrunk: string,
): string {
  const kinds = new Map<string, Failure[]>();
  for (const { failure } of failures) {
    const key = failure.problem.replace(/event \S+/g, "event …").replace(/no answer \(.*\)/, "no answer");
    kinds.set(key, [...(kinds.get(key) ?? []), failure]);
  }
  const severity = (key: string) => (/got 5\d\d|no answer/.test(key) ? 0 : /got \d+/.test(key) ? 1 : 2);
  const shown = [...kinds]
    .sort(([a], [b]) => severity(a) - severity(b))
    .map(([key, members]) => {
      const byGroup = new Map<string, number>();
      for (const m of members) byGroup.set(m.step.group, (byGroup.get(m.step.group) ?? 0) + 1);
      const groups = [...byGroup].map(([group, n]) => `${n} ${group}`).join(", ");
      return `[${members.length}×] ${key} — ${groups}\n${describeFailure(members[0] as Failure)}`;
    });
  return [
    `${failures.length} answers to ${total} generated scenarios broke the documented rules ` +
      `(replay: TENON_FUZZ_SEED=${seed} npx vitest run test/server/malformed-requests.test.ts)`,
    ...shown,
    errorLogs.length > 0 ? `The server logged ${errorLogs.length} errors:\n${summarizeLogs(errorLogs)}` : "",
    `The first failure, replayed alone and shrunk by fast-check:\n${shrunk}`,
  ].join("\n\n");
}

function summarizeLogs(lines: string[]): string {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const { msg, err } = JSON.parse(line) as { msg?: string; err?: string };
    const key = `${msg}: ${err}`.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => `  [${n}×] ${key}`).join("\n");
}

/** Replays the failing scenario by its fast-check path and lets fast-check shrink it to a small counterexample. */
async function shrink(harness: Harness, seed: number, index: number): Promise<string> {
  try {
    await fc.assert(
      fc.asyncProperty(describedScenarioArb, async (scenario) => {
        const failures = await runScenario(harness, scenario);
        if (failures.length > 0) throw new Error(failures.map(describeFailure).join("\n"));
      }),
      { seed, path: String(index), interruptAfterTimeLimit: 10_000, includeErrorInReport: true },
    );
    return "(it did not fail again when replayed alone)";
  } catch (error) {
    return (error as Error).message;
  }
}

/** Runs the scenarios `concurrency` at a time; each scenario's own steps run in its order. */
async function runAll(harness: Harness, scenarios: Scenario[]) {
  const failures: { index: number; failure: Failure }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < scenarios.length) {
      const index = next++;
      for (const failure of await runScenario(harness, scenarios[index] as Scenario)) failures.push({ index, failure });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures.sort((a, b) => a.index - b.index);
}

// ---------------------------------------------------------------- the property

describe.each([
  { name: "sqlite", backend: sqliteBackend, numRuns: 5000 },
  // PostgreSQL text refuses NUL and ill-formed UTF-8, SQLite stores anything: the kind of difference this finds.
  { name: "postgres", backend: postgresBackend, numRuns: 500 },
])("malformed requests on $name", ({ backend, numRuns }) => {
  const t = useTestStorage(backend);

  it(`${numRuns} generated requests each get their documented status, never a 5xx, and the server stays healthy`, async () => {
    const harness = await startServer(t.storage);
    try {
      const scenarios = fc.sample(describedScenarioArb, { seed, numRuns });
      const failures = await runAll(harness, scenarios);
      if (failures.length > 0) {
        const shrunk = await shrink(harness, seed, (failures[0] as { index: number }).index);
        expect.fail(report(failures, scenarios.length, harness.errorLogs, shrunk));
      }

      const health = await harness.pool.request({ method: "GET", path: "/health" });
      expect(health.statusCode).toBe(200);
      expect(await health.body.json()).toEqual({ status: "ok" });
      expect(harness.errorLogs, "the server logged an unexpected error").toEqual([]);
    } finally {
      await harness.close();
    }
  });
});
