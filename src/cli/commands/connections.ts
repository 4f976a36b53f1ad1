import pino from "pino";
import { loadConfig } from "../../config/load-config.ts";
import { readSettings, type Settings } from "../../config/settings.ts";
import { type ConnectionSummary, Connections } from "../../connections/connections.ts";
import { openVault } from "../../connections/vault/open-vault.ts";
import { ConfigurationError, ValidationError } from "../../sdk/errors.ts";
import type { AuditFilter, AuditRecord } from "../../storage/connection-store.ts";
import type { Storage } from "../../storage/contract.ts";
import { formatTable } from "../format-table.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

const reasonWidth = 60;
const urlWidth = 60;
/** Paused runs are counted from one bounded query; beyond this the count shows as "N+". */
const pausedCountLimit = 1000;

/** `tenon connections`: each configured connection's auth, status, credential expiry, circuit and paused runs. */
export async function listConnectionsCommand(options: { config: string }): Promise<void> {
  const rows = await withConnections(options.config, async (connections, storage) => {
    const [summaries, paused] = await Promise.all([connections.list(), pausedRunsByConnection(storage)]);
    return summaries.map((summary) => toRow(summary, paused));
  });
  if (rows.length === 0) {
    console.log(`no connections are configured; declare them under "connections" in ${options.config}`);
    return;
  }
  console.log(formatTable(["NAME", "AUTH", "STATUS", "REASON", "EXPIRES", "CIRCUIT", "PAUSED RUNS"], rows));
}

/**
 * `tenon connections set-credentials <name>`: stores credential fields read as a JSON object from
 * standard input, never from the command line, where they would land in shell history and `ps`.
 */
export async function setCredentialsCommand(
  name: string,
  options: { config: string; replace?: boolean; expiresAt?: string },
): Promise<void> {
  const expiresAt = options.expiresAt === undefined ? undefined : parseExpiresAt(options.expiresAt);
  const resumed = await withConnections(options.config, async (connections) => {
    // Checked before the person pastes a secret, not after.
    if (!connections.names.includes(name)) {
      const configured = connections.names.join(", ") || "none";
      throw new ConfigurationError(`no connection "${name}" in ${options.config}; configured: ${configured}`);
    }
    const fields = parseCredentialFields(await readStandardInput());
    return connections.setCredentials(name, fields, {
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...(options.replace ? { replace: true } : {}),
    });
  });
  const runs = resumed === 1 ? "1 paused run" : `${resumed} paused runs`;
  console.log(`credentials of connection "${name}" stored (sealed); ${runs} resumed.`);
  console.log("A running `tenon start` uses them within seconds.");
}

/** `tenon connections authorize <name>`: the URL a person opens to authorise an OAuth connection. */
export async function authorizeCommand(name: string, options: { config: string }): Promise<void> {
  const config = await loadConfig(options.config);
  const connection = config.connections?.[name];
  if (!connection) {
    const configured = Object.keys(config.connections ?? {}).join(", ") || "none";
    throw new ConfigurationError(`no connection "${name}" in ${options.config}; configured: ${configured}`);
  }
  if (connection.auth?.type !== "oauth2" || connection.auth.grant !== "authorization_code") {
    throw new ValidationError(
      `connection "${name}" does not use OAuth2 authorization codes; set its credentials with \`tenon connections set-credentials ${name}\``,
    );
  }
  const base = serverUrl(readSettings(process.env, { worker: config.worker ?? {} }));
  console.log(`Open this URL in a browser while \`tenon start\` runs, and approve access:`);
  console.log(`  ${base}/oauth/${encodeURIComponent(name)}/start`);
  console.log(`The provider must have ${base}/oauth/callback registered as a redirect URI.`);
}

/** `tenon audit`: the most recent outbound exchanges, newest first (headers and bodies via the API). */
export async function auditCommand(options: { run?: string; connection?: string; limit: number }): Promise<void> {
  const filter: AuditFilter = { limit: options.limit };
  if (options.run !== undefined) filter.runId = options.run;
  if (options.connection !== undefined) filter.connectionId = options.connection;
  const storage = await openExistingStorage(readSettings());
  let records: AuditRecord[];
  try {
    await storage.migrate();
    records = await storage.connections.listAudit(filter);
  } finally {
    await storage.close();
  }
  if (records.length === 0) {
    console.log("no audit records match");
    return;
  }
  const header = ["TIME", "CONNECTION", "RUN", "STEP", "METHOD", "URL", "STATUS", "MS"];
  console.log(formatTable(header, records.map(toAuditRow)));
}

/** Opens what a `Connections` needs, hands it over, and closes it all again whatever happens. */
async function withConnections<T>(
  configPath: string,
  use: (connections: Connections, storage: Storage) => Promise<T>,
): Promise<T> {
  const config = await loadConfig(configPath);
  const settings = readSettings(process.env, { worker: config.worker ?? {} });
  // Logs go to stderr: stdout carries the command's answer.
  const logger = pino({ level: settings.logLevel }, pino.destination({ dest: 2, sync: true }));
  // Storage first: run in the wrong directory, this fails before a vault key file is generated there.
  const storage = await openExistingStorage(settings);
  try {
    await storage.migrate();
    const vault = openVault({ logger: { warn: (_details, message) => console.error(`tenon: warning: ${message}`) } });
    const connections = new Connections({
      storage,
      vault,
      configs: config.connections ?? {},
      logger,
    });
    try {
      return await use(connections, storage);
    } finally {
      await connections.stop();
    }
  } finally {
    await storage.close();
  }
}

async function pausedRunsByConnection(storage: Storage): Promise<Map<string, string>> {
  const runs = await storage.listRuns({ status: "paused", limit: pausedCountLimit });
  const counts = new Map<string, number>();
  for (const run of runs) {
    if (run.waitingOn !== null) counts.set(run.waitingOn, (counts.get(run.waitingOn) ?? 0) + 1);
  }
  const more = runs.length === pausedCountLimit ? "+" : "";
  return new Map([...counts].map(([id, count]) => [id, `${count}${more}`]));
}

function toRow(summary: ConnectionSummary, paused: Map<string, string>): string[] {
  return [
    summary.id,
    summary.authType,
    summary.status,
    truncate(summary.statusReason ?? "", reasonWidth),
    summary.expiresAt === null ? "" : formatLocalTime(summary.expiresAt),
    summary.circuit.status,
    paused.get(summary.id) ?? "0",
  ];
}

function toAuditRow(record: AuditRecord): string[] {
  return [
    formatLocalTime(record.at),
    record.connectionId,
    record.runId ?? "",
    record.stepName ?? "",
    record.method,
    truncate(record.url, urlWidth),
    record.status === null ? truncate(record.error ?? "no answer", 30) : String(record.status),
    String(Math.round(record.durationMs)),
  ];
}

async function readStandardInput(): Promise<string> {
  if (process.stdin.isTTY) {
    console.error('paste a JSON object of credential fields (e.g. {"apiKey": "…"}), then press Ctrl-D');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** No message here quotes the input: JSON.parse's own messages show a slice of it, and it is a secret. */
function parseCredentialFields(text: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError(
      'standard input is not valid JSON; send an object of credential fields, e.g. echo \'{"apiKey": "…"}\' | tenon connections set-credentials <name>',
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new ValidationError('standard input must be a JSON object with at least one field, e.g. {"apiKey": "…"}');
  }
  for (const [field, value] of Object.entries(parsed)) {
    if (typeof value !== "string" || value === "") {
      throw new ValidationError(`credential "${field}" must be a non-empty string`);
    }
  }
  return parsed as Record<string, string>;
}

function parseExpiresAt(value: string): number {
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    throw new ValidationError(`--expires-at "${value}" is not a date; use ISO 8601, e.g. 2030-01-31T00:00:00Z`);
  }
  return parsed;
}

/** Where a browser reaches the server: TENON_PUBLIC_URL, else the listen address (a wildcard one via loopback). */
function serverUrl(settings: Settings): string {
  if (settings.publicUrl) return settings.publicUrl;
  const host = settings.httpHost === "0.0.0.0" || settings.httpHost === "::" ? "127.0.0.1" : settings.httpHost;
  return `http://${host.includes(":") ? `[${host}]` : host}:${settings.httpPort}`;
}

function truncate(text: string, width: number): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** Local time, to the second: operators compare it with their wall clock, not with UTC logs. */
function formatLocalTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
