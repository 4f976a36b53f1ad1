import { resolve } from "node:path";
import { type Duration, durationToMs } from "../sdk/duration.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import { defaultHttpLimits, type HttpLimits } from "../server/http-limits.ts";
import { type ApiRole, apiRoles, apiTokenNamePattern, apiTokenNameRule } from "../storage/operator-store.ts";

/**
 * Everything Tenon reads from the environment, in one place. The defaults work
 * on a laptop (SQLite under `.tenon/`); production sets the variables.
 * Precedence for worker sizing: environment, then `tenon.config.ts`, then the defaults here.
 */
export interface Settings {
  /** A postgres:// URL selects PostgreSQL; undefined means SQLite. */
  databaseUrl: string | undefined;
  /** The PostgreSQL schema holding Tenon's tables (several deployments can share a database). Default "tenon". */
  postgresSchema: string | undefined;
  /** Absolute path of the SQLite file (unused with PostgreSQL). */
  sqlitePath: string;
  sqliteSynchronous: SqliteSynchronous;
  logLevel: LogLevel;
  workerConcurrency: number;
  leaseMs: number;
  /** Interruptions in a row without progress after which a run is a suspect, run alone (see WorkerOptions). */
  maxCrashes: number;
  /** Where the HTTP server (webhooks, API) listens. Default 127.0.0.1:3000; 0.0.0.0 to accept outside traffic. */
  httpHost: string;
  /** 0 picks a free port. */
  httpPort: number;
  /** The base URL providers call (behind a proxy it differs from what the server sees); signed-URL schemes need it. */
  publicUrl: string | undefined;
  /** Bearer tokens accepted by `/api/*`, with their name and role; `tenon tokens create` adds stored ones. */
  apiTokens: EnvApiToken[];
  /** Largest request body in bytes. Default 1 MiB. */
  bodyLimit: number;
  /** Header, request and keep-alive timeouts and the connection cap of the HTTP server (it faces the internet). */
  httpLimits: HttpLimits;
  /** Outbound exchanges made outside a run (token requests) stay in the audit trail this long; a run's go with it. Default 30 days. */
  auditRetentionMs: number;
  /** Succeeded and failed runs (and events left without runs, unmatched events) are pruned this long after; null: off. Default 30 days. */
  retentionMs: number | null;
  /** Dead runs and quarantined events are pruned this long after; null: never. Default 90 days. */
  deadRetentionMs: number | null;
  /** Learned API shapes and drift incidents are written this often (TENON_DRIFT_PERSIST). Default 2 s. */
  driftPersistMs: number;
  /** Prometheus metrics: false turns every recorder into a no-op and removes `/metrics`. Default true. */
  metricsEnabled: boolean;
  /** A bearer token `/metrics` requires; undefined leaves it open. */
  metricsToken: string | undefined;
  /** Serve `/metrics` on this port (on `httpHost`) instead of the main one; undefined: on the main port. */
  metricsPort: number | undefined;
  /** OpenTelemetry traces are exported when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set; undefined: spans are no-ops. */
  tracing: TracingSettings | undefined;
}

/**
 * The standard OpenTelemetry variables Tenon reads itself; the OTLP exporter reads the rest
 * (OTEL_EXPORTER_OTLP_HEADERS, …_TIMEOUT, …_COMPRESSION) and the endpoint again (observability/tracing-sdk.ts).
 */
export interface TracingSettings {
  /** Where spans go (OTLP over HTTP, JSON). */
  endpoint: string;
  /** OTEL_SERVICE_NAME; default "tenon". */
  serviceName: string;
}

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

const synchronousModes = ["FULL", "NORMAL"] as const;
const metricsModes = ["on", "off"] as const;
export type SqliteSynchronous = (typeof synchronousModes)[number];

export const defaultWorkerConcurrency = 100;
export const defaultLeaseMs = 30_000;
export const defaultMaxCrashes = 5;
/** Heartbeats run every third of the lease; below a second they would be mostly overhead. */
export const minLeaseMs = 1000;
export const defaultAuditRetentionMs = 30 * 86_400_000;
export const defaultRetentionMs = 30 * 86_400_000;
export const defaultDeadRetentionMs = 90 * 86_400_000;

type Environment = Record<string, string | undefined>;

export interface ReadSettingsOptions {
  cwd?: string;
  /** The SQLite file when TENON_SQLITE_PATH is unset, relative to `cwd`. Default `.tenon/tenon.db`; `tenon dev` uses its own. */
  defaultSqlitePath?: string;
  /** Worker sizing from `tenon.config.ts`; the environment overrides it. */
  worker?: { concurrency?: number | undefined; leaseMs?: number | undefined; maxCrashes?: number | undefined };
}

/** Reads and checks the TENON_* variables; throws a ConfigurationError naming the variable at fault. */
export function readSettings(env: Environment = process.env, options: ReadSettingsOptions = {}): Settings {
  const cwd = options.cwd ?? process.cwd();
  return {
    databaseUrl: readDatabaseUrl(env),
    sqlitePath: resolve(cwd, variable(env, "TENON_SQLITE_PATH") ?? options.defaultSqlitePath ?? ".tenon/tenon.db"),
    postgresSchema: variable(env, "TENON_POSTGRES_SCHEMA"),
    sqliteSynchronous: readChoice(env, "TENON_SQLITE_SYNCHRONOUS", synchronousModes, "FULL"),
    logLevel: readLogLevel(env),
    workerConcurrency: readInteger(env, "TENON_WORKER_CONCURRENCY", {
      min: 1,
      fallback: options.worker?.concurrency ?? defaultWorkerConcurrency,
    }),
    leaseMs: readInteger(env, "TENON_LEASE_MS", {
      min: minLeaseMs,
      fallback: options.worker?.leaseMs ?? defaultLeaseMs,
    }),
    maxCrashes: readInteger(env, "TENON_MAX_CRASHES", {
      min: 1,
      fallback: options.worker?.maxCrashes ?? defaultMaxCrashes,
    }),
    httpHost: variable(env, "TENON_HTTP_HOST") ?? "127.0.0.1",
    httpPort: readInteger(env, "TENON_HTTP_PORT", { min: 0, max: 65_535, fallback: 3000 }),
    publicUrl: readPublicUrl(env),
    apiTokens: readApiTokens(env),
    bodyLimit: readInteger(env, "TENON_BODY_LIMIT", { min: 1024, fallback: 1024 * 1024 }),
    httpLimits: readHttpLimits(env),
    auditRetentionMs: readDuration(env, "TENON_AUDIT_RETENTION", defaultAuditRetentionMs),
    ...readRetention(env),
    driftPersistMs: readDuration(env, "TENON_DRIFT_PERSIST", 2000),
    tracing: readTracingSettings(env),
    metricsEnabled: readChoice(env, "TENON_METRICS", metricsModes, "on") === "on",
    metricsToken: variable(env, "TENON_METRICS_TOKEN"),
    metricsPort:
      variable(env, "TENON_METRICS_PORT") === undefined
        ? undefined
        : readInteger(env, "TENON_METRICS_PORT", { min: 0, max: 65_535, fallback: 0 }),
  };
}

/** TENON_RETENTION and TENON_RETENTION_DEAD: `off` keeps rows forever; dead ones are never kept less than the rest. */
function readRetention(env: Environment): Pick<Settings, "retentionMs" | "deadRetentionMs"> {
  const off = (name: string) => variable(env, name)?.toLowerCase() === "off";
  const retentionMs = off("TENON_RETENTION") ? null : readDuration(env, "TENON_RETENTION", defaultRetentionMs, "off");
  const deadRetentionMs = off("TENON_RETENTION_DEAD")
    ? null
    : readDuration(env, "TENON_RETENTION_DEAD", defaultDeadRetentionMs, "off");
  if (retentionMs === null && deadRetentionMs !== null && variable(env, "TENON_RETENTION_DEAD") !== undefined) {
    throw new ConfigurationError(
      "TENON_RETENTION is off but TENON_RETENTION_DEAD is set: dead runs would be pruned while succeeded ones are kept forever; set TENON_RETENTION too, or TENON_RETENTION_DEAD=off",
    );
  }
  if (retentionMs === null) return { retentionMs, deadRetentionMs: null };
  if (deadRetentionMs !== null && deadRetentionMs < retentionMs) {
    throw new ConfigurationError(
      `TENON_RETENTION_DEAD (${variable(env, "TENON_RETENTION_DEAD") ?? "90d"}) is shorter than TENON_RETENTION (${variable(env, "TENON_RETENTION") ?? "30d"}); dead runs and quarantined events are kept at least as long as the rest, so raise it or set it to off`,
    );
  }
  return { retentionMs, deadRetentionMs };
}

function readTracingSettings(env: Environment): TracingSettings | undefined {
  const name = variable(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    : "OTEL_EXPORTER_OTLP_ENDPOINT";
  const endpoint = variable(env, name);
  if (endpoint === undefined || variable(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  if (!/^https?:\/\/[^/?#]+/.test(endpoint)) {
    throw new ConfigurationError(
      `${name} is "${endpoint}"; it must be the http:// or https:// URL of an OTLP/HTTP collector, e.g. http://localhost:4318, or unset to export no traces`,
    );
  }
  return { endpoint, serviceName: variable(env, "OTEL_SERVICE_NAME") ?? "tenon" };
}

/** TENON_LOG_LEVEL alone: what an engine created without a logger logs at. */
export function readLogLevel(env: Environment = process.env): LogLevel {
  return readChoice(env, "TENON_LOG_LEVEL", logLevels, "info");
}

function readHttpLimits(env: Environment): HttpLimits {
  const headersTimeoutMs = readInteger(env, "TENON_HTTP_HEADERS_TIMEOUT_MS", {
    min: 1000,
    fallback: defaultHttpLimits.headersTimeoutMs,
  });
  const requestTimeoutMs = readInteger(env, "TENON_HTTP_REQUEST_TIMEOUT_MS", {
    min: 1000,
    fallback: Math.max(defaultHttpLimits.requestTimeoutMs, headersTimeoutMs),
  });
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigurationError(
      `TENON_HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs}) is shorter than TENON_HTTP_HEADERS_TIMEOUT_MS (${headersTimeoutMs}); the request timeout covers the headers too, so it must be at least as long`,
    );
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: readInteger(env, "TENON_HTTP_KEEP_ALIVE_TIMEOUT_MS", {
      min: 1,
      fallback: defaultHttpLimits.keepAliveTimeoutMs,
    }),
    maxConnections: readInteger(env, "TENON_HTTP_MAX_CONNECTIONS", {
      min: 1,
      fallback: defaultHttpLimits.maxConnections,
    }),
  };
}

/** A token from TENON_API_TOKENS. */
export interface EnvApiToken {
  name: string;
  role: ApiRole;
  token: string;
}

/**
 * TENON_API_TOKENS: comma-separated entries, each `name:role:token` or a bare token. A bare token is an admin
 * named `env-<position>` (what it always could do). An entry shaped like `name:word:token` whose word is not a
 * role is refused rather than read as a bare admin token: a misspelt role must not grant everything.
 */
function readApiTokens(env: Environment): EnvApiToken[] {
  const entries = (variable(env, "TENON_API_TOKENS") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  const tokens = entries.map((entry, index): EnvApiToken => {
    const named = /^([^:]+):([A-Za-z]+):(.+)$/.exec(entry);
    if (!named) return { name: `env-${index + 1}`, role: "admin", token: entry };
    const [, name = "", role = "", token = ""] = named;
    const where = `TENON_API_TOKENS entry ${index + 1}`;
    if (!apiRoles.includes(role as ApiRole)) {
      throw new ConfigurationError(
        `${where} has the role "${role}"; use name:role:token with a role of ${apiRoles.join(", ")} (a bare token is an admin)`,
      );
    }
    if (!apiTokenNamePattern.test(name))
      throw new ConfigurationError(`${where} has the name "${name}"; ${apiTokenNameRule}`);
    return { name, role: role as ApiRole, token };
  });
  const names = tokens.map((token) => token.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated !== undefined) {
    throw new ConfigurationError(`TENON_API_TOKENS names "${repeated}" twice; each token needs its own name`);
  }
  return tokens;
}

function readPublicUrl(env: Environment): string | undefined {
  const value = variable(env, "TENON_PUBLIC_URL");
  if (value === undefined) return undefined;
  if (!/^https?:\/\/[^/?#]+\/?$/.test(value)) {
    throw new ConfigurationError(
      `TENON_PUBLIC_URL is "${value}"; it must be the scheme and host providers call, e.g. https://hooks.example.com`,
    );
  }
  return value.replace(/\/$/, "");
}

/** The database in use, fit for a log line: the SQLite path, or the PostgreSQL URL without its password. */
export function describeDatabase(settings: Settings): string {
  if (!settings.databaseUrl) return `sqlite:${settings.sqlitePath}`;
  // Not parsed with URL: libpq-style URLs such as postgres://user:pw@/db?host=/run/postgresql are not WHATWG URLs.
  return settings.databaseUrl
    .replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/, "$1***@")
    .replace(/([?&]password=)[^&]*/g, "$1***");
}

/** An empty variable counts as unset, as env files and container specs often leave them so. */
function variable(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function readDatabaseUrl(env: Environment): string | undefined {
  const url = variable(env, "TENON_DATABASE_URL");
  if (url === undefined) return undefined;
  if (!/^postgres(ql)?:\/\/./.test(url)) {
    throw new ConfigurationError(
      "TENON_DATABASE_URL must be a postgres:// or postgresql:// URL (e.g. postgres://user:password@host:5432/db); leave it unset to use SQLite",
    );
  }
  return url;
}

function readChoice<T extends string>(env: Environment, name: string, allowed: readonly T[], fallback: T): T {
  const value = variable(env, name);
  if (value === undefined) return fallback;
  const match = allowed.find((choice) => choice.toLowerCase() === value.toLowerCase());
  if (match === undefined) {
    throw new ConfigurationError(`${name} is "${value}"; allowed: ${allowed.join(", ")} (default ${fallback})`);
  }
  return match;
}

function readInteger(env: Environment, name: string, rule: { min: number; max?: number; fallback: number }): number {
  const value = variable(env, name);
  if (value === undefined) return rule.fallback;
  const parsed = Number(value);
  const max = rule.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < rule.min || parsed > max) {
    const range = rule.max === undefined ? `≥ ${rule.min}` : `from ${rule.min} to ${rule.max}`;
    throw new ConfigurationError(`${name} is "${value}"; it must be a whole number ${range}`);
  }
  return parsed;
}

function readDuration(env: Environment, name: string, fallback: number, alternative?: string): number {
  const value = variable(env, name);
  if (value === undefined) return fallback;
  // A bare number would be ambiguous (seconds? days?), so only the unit forms are accepted here.
  const ms = /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value) ? durationToMs(value as Duration) : 0;
  if (ms <= 0) {
    throw new ConfigurationError(
      `${name} is "${value}"; it must be a duration greater than zero such as 30d, 12h or 90m${alternative ? `, or ${alternative}` : ""}`,
    );
  }
  return ms;
}

/** DEMO_DURATION_S: `tenon demo` stops by itself after this many seconds; unset, it runs until Ctrl-C. */
export function readDemoDurationMs(env: Environment = process.env): number | undefined {
  const value = variable(env, "DEMO_DURATION_S");
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new ConfigurationError(`DEMO_DURATION_S is "${value}"; it must be a number of seconds > 0, or unset`);
  }
  return seconds * 1000;
}

export const defaultSandboxPort = 4010;

/**
 * TENON_SANDBOX_PORT: where `tenon demo` and `tenon dev` start the sandbox (any free port if it is taken); 0 picks
 * one; 4010 when unset.
 */
export function readSandboxPort(env: Environment = process.env): number {
  return readInteger(env, "TENON_SANDBOX_PORT", { min: 0, max: 65_535, fallback: defaultSandboxPort });
}

/**
 * TENON_SANDBOX_WEBHOOK_TIME_SCALE: how many times faster than the providers' schedules the sandbox
 * retries webhooks (`tenon sandbox`, `tenon dev`, the demo). 1 is real time; 3600 turns hours into seconds.
 */
export function readSandboxWebhookTimeScale(env: Environment = process.env): number | undefined {
  const value = variable(env, "TENON_SANDBOX_WEBHOOK_TIME_SCALE");
  if (value === undefined) return undefined;
  return parseWebhookTimeScale(value, "TENON_SANDBOX_WEBHOOK_TIME_SCALE");
}

/** A webhook time scale given as text (a variable, a CLI flag): a number > 0; `source` names where it came from. */
export function parseWebhookTimeScale(value: string, source: string): number {
  const scale = Number(value);
  if (value.trim() === "" || !Number.isFinite(scale) || scale <= 0) {
    throw new ConfigurationError(
      `${source} is "${value}"; it must be a number > 0: 1 retries webhooks in real time, 3600 turns hours into seconds`,
    );
  }
  return scale;
}
