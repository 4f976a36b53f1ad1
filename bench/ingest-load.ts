/**
 * The load generator for `bench/ingest.ts`, in its own process: autocannon sends signed Stripe-style webhooks, each
 * with a unique event id, first for a warm-up, then for the measured run. Prints `{"phase":"measured"}` when the
 * measured run starts (the caller samples CPU time then) and, at the end, one JSON line: LoadResult.
 *
 *   node --import tsx bench/ingest-load.ts '<LoadPlan as JSON>'
 *
 * Latency is timed here rather than read from autocannon's histogram, which keeps whole milliseconds only (the bare
 * server answers in well under one): from building the request (autocannon builds it just before writing it) to the
 * parsed response. Every 2xx response's event id is reported, so the caller can check each one was stored.
 */
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";

export interface LoadPlan {
  /** The webhook URL, e.g. http://127.0.0.1:1234/hooks/stripe. */
  url: string;
  secret: string;
  connections: number;
  warmupS: number;
  durationS: number;
  bodyBytes: number;
  /** Event ids are `${idPrefix}<n>`, n counting from 0 across both phases. */
  idPrefix: string;
  /**
   * Requests per second, sent at a steady pace (open loop: one every 1/rate s, whether earlier ones were answered or
   * not, over at most `connections` connections). Unset: autocannon, as fast as the server answers. A warm-up of 0 s
   * skips the warm-up.
   */
  rate?: number;
}

export interface PhaseResult {
  durationS: number;
  /** Requests written, answered or not (those in flight when autocannon stopped were never answered). */
  sent: number;
  responses: number;
  status2xx: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p99: number; max: number; mean: number };
  /** The n of every event id answered 2xx. */
  ackedIds: number[];
}

export interface LoadResult {
  warmup: PhaseResult;
  measured: PhaseResult;
}

/** The slice of autocannon's programmatic API used here (the package ships no types). */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (request: AutocannonRequest, context: RequestContext) => AutocannonRequest;
  onResponse?: (status: number, body: string, context: RequestContext) => void;
}

interface RequestContext {
  n?: number;
  builtAt?: number;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
  /** total: responses; sent: requests written. */
  requests: { total: number; sent: number };
  statusCodeStats: Record<string, { count: number }>;
}

type Autocannon = (
  options: {
    url: string;
    connections: number;
    duration: number;
    method: string;
    headers: Record<string, string>;
    requests: AutocannonRequest[];
  },
  done: (error: Error | null, result: AutocannonResult) => void,
) => unknown;

/** A Stripe event of about `bodyBytes` bytes, and its `Stripe-Signature` (https://docs.stripe.com/webhooks#verify-manually). */
export function signedStripeWebhook(
  eventId: string,
  secret: string,
  bodyBytes: number,
): { body: string; signature: string } {
  const head = `{"id":"${eventId}","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_${eventId}","object":"payment_intent","amount":2000,"currency":"usd","description":"`;
  const tail = `"}}}`;
  const body = `${head}${"x".repeat(Math.max(0, bodyBytes - head.length - tail.length))}${tail}`;
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return { body, signature: `t=${t},v1=${v1}` };
}

/** Nearest-rank percentile. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

function latencySummary(samples: number[]): PhaseResult["latencyMs"] {
  const sorted = Float64Array.from(samples).sort();
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: samples.length > 0 ? sum / samples.length : Number.NaN,
  };
}

async function runPhase(plan: LoadPlan, durationS: number, nextId: { n: number }): Promise<PhaseResult> {
  const target = new URL(plan.url);
  const latencies: number[] = [];
  const ackedIds: number[] = [];
  // Loaded here, not at the top: bench/ingest.ts imports this module for signedStripeWebhook only.
  const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    autocannon(
      {
        url: target.origin,
        connections: plan.connections,
        duration: durationS,
        method: "POST",
        headers: { "content-type": "application/json" },
        requests: [
          {
            path: target.pathname,
            setupRequest(request, context) {
              const n = nextId.n++;
              const { body, signature } = signedStripeWebhook(`${plan.idPrefix}${n}`, plan.secret, plan.bodyBytes);
              context.n = n;
              context.builtAt = performance.now();
              request.body = body;
              request.headers = { ...request.headers, "stripe-signature": signature };
              return request;
            },
            onResponse(status, _body, context) {
              latencies.push(performance.now() - (context.builtAt as number));
              if (status >= 200 && status < 300) ackedIds.push(context.n as number);
            },
          },
        ],
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
  });
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
  return {
    durationS: result.duration,
    sent: result.requests.sent,
    responses: result.requests.total,
    status2xx: result["2xx"],
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: latencySummary(latencies),
    ackedIds,
  };
}

/**
 * A steady load: request n is due at start + n/rate and is sent then (autocannon's own rate limit sends each second's
 * share in a burst at its start, which measures a burst). Latency is from when a request was due, so a server that
 * falls behind is charged for the wait (no coordinated omission); when all connections are busy, due requests queue.
 */
async function runSteady(plan: LoadPlan, durationS: number, nextId: { n: number }): Promise<PhaseResult> {
  const rate = plan.rate as number;
  const target = new URL(plan.url);
  const pool = new Pool(target.origin, { connections: plan.connections, pipelining: 1 });
  const latencies: number[] = [];
  const ackedIds: number[] = [];
  const statusCodes: Record<string, number> = {};
  let sent = 0;
  let status2xx = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const send = async (n: number, dueAt: number) => {
    const { body, signature } = signedStripeWebhook(`${plan.idPrefix}${n}`, plan.secret, plan.bodyBytes);
    try {
      const response = await pool.request({
        method: "POST",
        path: target.pathname,
        headers: { "content-type": "application/json", "stripe-signature": signature },
        body,
      });
      await response.body.dump();
      latencies.push(performance.now() - dueAt);
      statusCodes[response.statusCode] = (statusCodes[response.statusCode] ?? 0) + 1;
      if (response.statusCode >= 200 && response.statusCode < 300) {
        status2xx++;
        ackedIds.push(n);
      }
    } catch {
      errors++;
    }
  };
  const start = performance.now();
  const total = Math.round(rate * durationS);
  while (sent < total) {
    const elapsed = performance.now() - start;
    const due = Math.min(total, Math.floor((elapsed / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const promise = send(nextId.n++, start + (sent * 1000) / rate);
      inFlight.add(promise);
      void promise.finally(() => inFlight.delete(promise));
    }
    // The next request's due time; timers fire at best each millisecond, so a fast rate sends a few per tick.
    const wait = start + (sent * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  // Over the span the requests were sent in; those still in flight are waited for and counted.
  const measuredS = (performance.now() - start) / 1000;
  await Promise.all(inFlight);
  await pool.close();
  const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    durationS: measuredS,
    sent,
    responses,
    status2xx,
    non2xx: responses - status2xx,
    statusCodes,
    errors,
    timeouts: 0,
    latencyMs: latencySummary(latencies),
    ackedIds,
  };
}

function noPhase(): PhaseResult {
  const latencyMs = { p50: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  return {
    durationS: 0,
    sent: 0,
    responses: 0,
    status2xx: 0,
    non2xx: 0,
    statusCodes: {},
    errors: 0,
    timeouts: 0,
    latencyMs,
    ackedIds: [],
  };
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error("usage: bench/ingest-load.ts '<LoadPlan as JSON>'");
  const plan = JSON.parse(raw) as LoadPlan;
  const nextId = { n: 0 };
  const warmup = plan.warmupS > 0 ? await runPhase(plan, plan.warmupS, nextId) : noPhase();
  process.stdout.write(`${JSON.stringify({ phase: "measured" })}\n`);
  const measured =
    plan.rate === undefined
      ? await runPhase(plan, plan.durationS, nextId)
      : await runSteady(plan, plan.durationS, nextId);
  const result: LoadResult = { warmup, measured };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
