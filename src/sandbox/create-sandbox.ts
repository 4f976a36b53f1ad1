import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import qs from "qs";
import {
  changeSchema,
  decideFault,
  type FaultDecision,
  type Faults,
  faultsInput,
  mergeFaults,
  noFaults,
} from "./faults.ts";
import { type CapturedRequest, RequestLog } from "./request-log.ts";
import type { SandboxContext, SandboxSystem } from "./sandbox-system.ts";
import { WebhookSender } from "./webhook-sender.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The body as it arrived (signatures, captured requests); "" for none. */
    rawBody: string;
    sandboxFault: FaultDecision | undefined;
  }
}

export type SandboxSystemFactory = (context: SandboxContext) => SandboxSystem;

export interface SandboxOptions {
  /** The systems to run, by name (the URL prefix): `{ store: createStore, crm: (c) => createCrm(c, { … }) }`. */
  systems: Record<string, SandboxSystemFactory>;
  /** Where each system's webhooks go, by system name (changeable later at `PUT /_sandbox/<name>/webhooks`). */
  webhookUrls?: Record<string, string>;
  /**
   * How many times faster than the providers' retry schedules webhook retries run: 1 (the default) is
   * real time; 3600 turns Stripe's three days into about a minute, for tests and the demo.
   */
  webhookTimeScale?: number;
  now?: () => number;
  random?: () => number;
}

export interface Sandbox {
  readonly app: FastifyInstance;
  /** `http://127.0.0.1:<port>`, once listening. */
  readonly url: string;
  /** A system's API base URL: `<url>/<name>`. */
  baseUrl(name: string): string;
  system<T extends SandboxSystem = SandboxSystem>(name: string): T;
  webhooks(name: string): WebhookSender;
  credentials(name: string): Record<string, string>;
  /** The same as `POST /_sandbox/<name>/faults`. */
  setFaults(name: string, input: unknown): Faults;
  faults(name: string): Faults;
  /** Every API request the system received (most recent 10 000). */
  requests(name: string): readonly CapturedRequest[];
  /** How many answers each kind of fault has replaced so far. */
  injectedFaults(name: string): Readonly<Record<string, number>>;
  listen(options?: { host?: string; port?: number }): Promise<string>;
  close(): Promise<void>;
}

interface RunningSystem {
  system: SandboxSystem;
  webhooks: WebhookSender;
  faults: Faults;
  requests: RequestLog;
  /** How many answers each kind of fault replaced, shown in the state: proof the faults happened. */
  injected: Record<Exclude<FaultDecision["kind"], "none">, number>;
}

const noneInjected = () => ({ outage: 0, rate_limited: 0, error_before: 0, error_after: 0 });

const namePattern = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * The sandbox: simulated external systems on one local port, each under `/<name>` with its real
 * API's wire format, and a control surface under `/_sandbox/<name>` (state, faults, captured requests,
 * webhook target). It is a product feature, not a test double: developers run their integrations
 * against it offline, with faults on demand (`tenon sandbox`, and the demo behind `npm start`).
 */
export function createSandbox(options: SandboxOptions): Sandbox {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  let listeningUrl: string | undefined;
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
  installParsers(app);

  const running = new Map<string, RunningSystem>();
  for (const [name, create] of Object.entries(options.systems)) {
    if (!namePattern.test(name)) throw new Error(`sandbox system name "${name}" must be a-z, 0-9 and "-"`);
    const webhooks = new WebhookSender({ url: options.webhookUrls?.[name], timeScale: options.webhookTimeScale, now });
    const traffic = { faults: noFaults(), requests: new RequestLog(), injected: noneInjected() };
    const context: SandboxContext = {
      now,
      webhooks,
      baseUrl: () => {
        if (listeningUrl === undefined) throw new Error("the sandbox is not listening yet");
        return `${listeningUrl}/${name}`;
      },
      // Read through `running`: setFaults replaces the entry's faults, and the entry is made below.
      decideFault: (decide = {}) => decideAndCount(get(name), now(), random, decide.outageOnly ?? false),
      captureRequest: (request) => get(name).requests.record(request),
      dropsWebhook: () => {
        const rate = get(name).faults.dropWebhooksRate;
        return rate > 0 && random() < rate;
      },
    };
    const system = create(context);
    if (system.webhookRetries) webhooks.retries = system.webhookRetries;
    running.set(name, { system, webhooks, ...traffic });
  }

  const get = (name: string): RunningSystem => {
    const found = running.get(name);
    if (!found) throw new Error(`no sandbox system "${name}"; running: ${[...running.keys()].join(", ")}`);
    return found;
  };
  const setFaults = (name: string, input: unknown): Faults => {
    const entry = get(name);
    const parsed = faultsInput.parse(input);
    entry.faults = mergeFaults(entry.faults, parsed);
    if (parsed.revokeCredentials) entry.system.revokeCredentials();
    if (parsed.restoreCredentials) entry.system.restoreCredentials();
    return entry.faults;
  };

  app.setErrorHandler((error: Error & { statusCode?: number; issues?: unknown }, _request, reply) => {
    if (error.name === "ZodError") {
      return reply.code(400).send({ error: "invalid_request", message: error.message, issues: error.issues });
    }
    const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
    return reply
      .code(status)
      .send({ error: status === 500 ? "internal_error" : "bad_request", message: error.message });
  });

  app.get("/_sandbox", async () => ({
    systems: Object.fromEntries([...running.keys()].map((name) => [name, `${listeningUrl ?? ""}/${name}`])),
  }));

  for (const [name, entry] of running) {
    app.register(
      async (scope) => {
        installFaults(scope, () => entry, now, random);
        entry.system.registerRoutes(scope);
      },
      { prefix: `/${name}` },
    );
    app.register(
      async (scope) => {
        scope.get("/state", async () => ({
          system: name,
          ...(entry.system.state() as object),
          webhooks: entry.webhooks.state(),
          injectedFaults: entry.injected,
        }));
        scope.get("/faults", async () => entry.faults);
        scope.post("/faults", async (request) => setFaults(name, request.body ?? {}));
        scope.delete("/faults", async () => {
          entry.faults = noFaults();
          return entry.faults;
        });
        scope.get("/requests", async (request) => {
          const limit = Number((request.query as Record<string, string>).limit ?? 100);
          return { requests: entry.requests.recent(Number.isInteger(limit) && limit > 0 ? limit : 100) };
        });
        scope.put("/webhooks", async (request, reply) => {
          const url = (request.body as { url?: unknown } | undefined)?.url;
          if (url !== null && (typeof url !== "string" || !URL.canParse(url))) {
            return reply
              .code(400)
              .send({ error: "invalid_request", message: 'give { "url": "http://…" } (or null to stop)' });
          }
          entry.webhooks.url = url ?? undefined;
          return entry.webhooks.state();
        });
        scope.get("/webhooks", async () => entry.webhooks.state());
        scope.get("/webhooks/:id", async (request, reply) => {
          const { id } = request.params as { id: string };
          return entry.webhooks.delivery(id) ?? reply.code(404).send(unknownMessage(name, id));
        });
        scope.post("/webhooks/:id/redeliver", async (request, reply) => {
          const { id } = request.params as { id: string };
          const outcome = entry.webhooks.redeliver(id);
          if (outcome === "unknown") return reply.code(404).send(unknownMessage(name, id));
          if (outcome === "in_flight") {
            return reply.code(409).send({
              error: "in_flight",
              message: `an attempt to deliver ${id} is under way; ask again once it has finished`,
            });
          }
          return reply.code(202).send(outcome);
        });
        entry.system.registerControlRoutes?.(scope);
      },
      { prefix: `/_sandbox/${name}` },
    );
  }

  return {
    app,
    get url() {
      if (listeningUrl === undefined) throw new Error("the sandbox is not listening yet");
      return listeningUrl;
    },
    baseUrl: (name) => {
      get(name);
      if (listeningUrl === undefined) throw new Error("the sandbox is not listening yet");
      return `${listeningUrl}/${name}`;
    },
    system: <T extends SandboxSystem>(name: string) => get(name).system as T,
    webhooks: (name) => get(name).webhooks,
    credentials: (name) => get(name).system.credentials(),
    setFaults,
    faults: (name) => get(name).faults,
    requests: (name) => get(name).requests.all(),
    injectedFaults: (name) => get(name).injected,
    async listen(listen = {}) {
      const host = listen.host ?? "127.0.0.1";
      const address = await app.listen({ host, port: listen.port ?? 0 });
      // A wildcard IPv6 listen address is no place to send requests; its loopback on the same port is.
      listeningUrl = address.replace("://[::]:", "://[::1]:");
      for (const entry of running.values()) {
        for (const listener of entry.system.listeners ?? []) await listener.listen(host);
      }
      return listeningUrl;
    },
    async close() {
      await Promise.all(
        [...running.values()].map(async (entry) => {
          await entry.webhooks.close();
          await Promise.all((entry.system.listeners ?? []).map((listener) => listener.close()));
          await entry.system.close?.();
        }),
      );
      await app.close();
    },
  };
}

function unknownMessage(system: string, id: string) {
  return {
    error: "not_found",
    message: `${system} has no webhook message ${id} (it keeps every pending and failed message and its most recent delivered ones)`,
  };
}

/** JSON and form bodies are parsed (forms the way Stripe and Twilio nest them: `metadata[key]=…`) and kept raw. */
function installParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json\s*(;|$)/i, { parseAs: "string" }, (request, body, done) => {
    request.rawBody = body as string;
    if ((body as string).length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error("the body is not valid JSON"), { statusCode: 400 }), undefined);
    }
  });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, qs.parse(body as string, { depth: 5, arrayLimit: 100 }));
  });
  app.addContentTypeParser("*", { parseAs: "string" }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, body);
  });
  app.decorateRequest("rawBody", "");
  app.decorateRequest("sandboxFault", undefined);
}

/** The fault for one request, counted in the system's `injectedFaults` when there is one. */
function decideAndCount(entry: RunningSystem, now: number, random: () => number, outageOnly: boolean): FaultDecision {
  const decided = decideFault(entry.faults, now, random);
  const decision = outageOnly && decided.kind !== "outage" ? ({ kind: "none" } as const) : decided;
  if (decision.kind !== "none") entry.injected[decision.kind] += 1;
  return decision;
}

/**
 * Faults wrap a system's routes: latency and the decision on arrival (an outage, a 429, a 5xx before the
 * handler runs), and on the way out a 5xx that replaces a processed request's answer or a schema change.
 */
function installFaults(
  scope: FastifyInstance,
  entry: () => RunningSystem,
  now: () => number,
  random: () => number,
): void {
  scope.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    const { faults, requests } = entry();
    requests.capture(request, now());
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    const outageOnly = (request.routeOptions.config as { sandboxFaults?: string }).sandboxFaults === "outage-only";
    const decision = decideAndCount(entry(), now(), random, outageOnly);
    request.sandboxFault = decision;
    if (decision.kind === "outage") {
      return reply
        .code(503)
        .header("retry-after", String(Math.max(1, Math.ceil((decision.until - now()) / 1000))))
        .send({ message: `service unavailable: sandbox outage until ${new Date(decision.until).toISOString()}` });
    }
    if (decision.kind === "rate_limited") {
      return reply
        .code(429)
        .header("retry-after", String(decision.retryAfterSeconds))
        .send({ message: "too many requests (sandbox fault)" });
    }
    if (decision.kind === "error_before") {
      return reply.code(decision.status).send({ message: `sandbox fault: HTTP ${decision.status} before processing` });
    }
  });
  scope.addHook("onSend", async (request, reply, payload) => {
    const decision = request.sandboxFault;
    if (decision?.kind === "error_after" && reply.statusCode < 400) {
      reply.code(decision.status).header("content-type", "application/json; charset=utf-8");
      return JSON.stringify({ message: `sandbox fault: HTTP ${decision.status} after processing` });
    }
    const change = entry().faults.schemaChange;
    const json = String(reply.getHeader("content-type") ?? "").includes("json");
    if (!change || !json || typeof payload !== "string" || reply.statusCode >= 300) return payload;
    try {
      return JSON.stringify(changeSchema(JSON.parse(payload), change));
    } catch {
      return payload;
    }
  });
}
