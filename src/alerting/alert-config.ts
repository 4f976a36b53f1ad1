import { type Duration, durationToMs } from "../sdk/duration.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import type { Secret } from "../sdk/secret-from-env.ts";

/** Where alerts go, by channel name (`ops`, `oncall`): each delivery is a durable run of its own. */
export type AlertChannelConfig =
  /** Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), an Alertmanager-shaped body. */
  | { type: "webhook"; url: string; secrets: Secret[] }
  /** A Slack incoming webhook (Block Kit). The URL is a secret: it holds the webhook's token. */
  | { type: "slack"; webhookUrl: Secret }
  /** Email over SMTP; the firing and the resolved message of an alert thread together. */
  | {
      type: "email";
      smtp: { host: string; port: number; secure?: boolean; user?: string; password?: Secret };
      from: string;
      to: string[];
    }
  /** PagerDuty Events API v2: trigger, then resolve with the same dedup_key. */
  | { type: "pagerduty"; routingKey: Secret; url?: string };

/** The built-in rules; each may be switched off (`false`) or tuned. All are on by default once a channel exists. */
export interface AlertRulesConfig {
  /** Runs ended dead, grouped per integration over a window: one alert for N dead runs. */
  runDead?: false | { window?: Duration };
  /** Runs ended failed (a non-retryable error), grouped the same way. */
  runFailed?: false | { window?: Duration };
  /** Share of failed and dead runs among those ended in the window, once at least `minRuns` ended. */
  errorRate?: false | { window?: Duration; threshold?: number; minRuns?: number };
  /** The integration's last N ended runs all failed or died. */
  consecutiveFailures?: false | { count?: number };
  /** A connection's credentials were rejected (auth_failed). */
  authFailed?: false;
  /** A connection's stored credentials expire within this long. */
  credentialsExpiring?: false | { within?: Duration };
  /** A connection's circuit has been open longer than this. */
  circuitOpen?: false | { longerThan?: Duration };
  /** Runs waiting on a connection (circuit, rate limit) longer than this. */
  runsWaiting?: false | { longerThan?: Duration };
  /** Runs paused on rejected credentials longer than this. */
  runsPaused?: false | { longerThan?: Duration };
  /** Events quarantined (bad data kept with a reason) in the window. */
  quarantined?: false | { window?: Duration };
  /**
   * No event from a source for a period (opt-in per source), optionally only between given hours, in UTC:
   * `{ orders: { period: "2h", between: ["09:00", "21:00"] } }`.
   */
  noEvents?: Record<string, { period: Duration; between?: [string, string] }>;
  /** A schedule's tick is overdue by more than `grace` and no worker fired it. */
  scheduleMissed?: false | { grace?: Duration };
  /** Breaking API drift (a field the code reads changed): one alert per changed field, until its shape is accepted. */
  drift?: false;
  /** A poll source failed this many times in a row, or is late by more than `lateBy` (no worker polled it). */
  pollFailing?: false | { failures?: number; lateBy?: Duration };
  /** An alert channel's deliveries are failing (retrying or dead): told through the other channels. */
  channelFailing?: false;
  /** An operational webhook subscriber was disabled after failing for too long; resolved when it is enabled. */
  webhookDisabled?: false;
  /** A reconciliation has open findings (records missing or differing): one alert per reconciliation. */
  reconciliationFindings?: false;
}

export interface AlertsConfig {
  channels: Record<string, AlertChannelConfig>;
  rules?: AlertRulesConfig;
  /** How often the rules are evaluated (by one worker). Default 15 s. */
  evaluateEvery?: Duration;
  /** A firing alert is told again this often while it keeps firing (unless acknowledged). Default 4 h. */
  renotifyAfter?: Duration;
  /** A condition must stay clear this long before its alert resolves. Default 0: at the first clear evaluation. */
  recoverAfter?: Duration;
  /** The base URL links in alerts point at (the run, the connection). Default TENON_PUBLIC_URL. */
  publicUrl?: string;
}

/** The rules' settings with every default filled in; a rule that is off is `false`. */
export interface ResolvedRules {
  runDead: false | { windowMs: number };
  runFailed: false | { windowMs: number };
  errorRate: false | { windowMs: number; threshold: number; minRuns: number };
  consecutiveFailures: false | { count: number };
  authFailed: boolean;
  credentialsExpiring: false | { withinMs: number };
  circuitOpen: false | { longerThanMs: number };
  runsWaiting: false | { longerThanMs: number };
  runsPaused: false | { longerThanMs: number };
  quarantined: false | { windowMs: number };
  noEvents: { source: string; periodMs: number; between: [number, number] | null }[];
  pollFailing: false | { failures: number; lateByMs: number };
  scheduleMissed: false | { graceMs: number };
  drift: boolean;
  channelFailing: boolean;
  webhookDisabled: boolean;
  reconciliationFindings: boolean;
}

const minute = 60_000;

export function resolveRules(rules: AlertRulesConfig = {}): ResolvedRules {
  const window = (value: false | { window?: Duration } | undefined, fallback: number) =>
    value === false ? false : { windowMs: ms(value?.window, fallback) };
  const longerThan = (value: false | { longerThan?: Duration } | undefined, fallback: number) =>
    value === false ? false : { longerThanMs: ms(value?.longerThan, fallback) };
  const errorRate = rules.errorRate;
  return {
    runDead: window(rules.runDead, 15 * minute),
    runFailed: window(rules.runFailed, 15 * minute),
    errorRate:
      errorRate === false
        ? false
        : {
            windowMs: ms(errorRate?.window, 15 * minute),
            threshold: errorRate?.threshold ?? 0.2,
            minRuns: errorRate?.minRuns ?? 20,
          },
    consecutiveFailures: rules.consecutiveFailures === false ? false : { count: rules.consecutiveFailures?.count ?? 5 },
    authFailed: rules.authFailed !== false,
    credentialsExpiring:
      rules.credentialsExpiring === false
        ? false
        : { withinMs: ms(rules.credentialsExpiring?.within, 7 * 24 * 60 * minute) },
    circuitOpen: longerThan(rules.circuitOpen, 5 * minute),
    runsWaiting: longerThan(rules.runsWaiting, 30 * minute),
    runsPaused: longerThan(rules.runsPaused, 30 * minute),
    quarantined: window(rules.quarantined, 15 * minute),
    noEvents: Object.entries(rules.noEvents ?? {}).map(([source, rule]) => ({
      source,
      periodMs: durationToMs(rule.period),
      between: rule.between ? [minuteOfDay(rule.between[0]), minuteOfDay(rule.between[1])] : null,
    })),
    pollFailing:
      rules.pollFailing === false
        ? false
        : { failures: rules.pollFailing?.failures ?? 3, lateByMs: ms(rules.pollFailing?.lateBy, 10 * minute) },
    scheduleMissed: rules.scheduleMissed === false ? false : { graceMs: ms(rules.scheduleMissed?.grace, 5 * minute) },
    drift: rules.drift !== false,
    channelFailing: rules.channelFailing !== false,
    webhookDisabled: rules.webhookDisabled !== false,
    reconciliationFindings: rules.reconciliationFindings !== false,
  };
}

function ms(value: Duration | undefined, fallback: number): number {
  return value === undefined ? fallback : durationToMs(value);
}

/** "09:30" → 570. */
function minuteOfDay(text: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!match) throw new ConfigurationError(`alerts: "${text}" is not a time of day; use "HH:MM" (UTC), e.g. "09:00"`);
  return Number(match[1]) * 60 + Number(match[2]);
}

const channelNamePattern = /^[a-z0-9][a-z0-9_-]{0,40}$/;
const ruleNames: (keyof AlertRulesConfig)[] = [
  "runDead",
  "runFailed",
  "errorRate",
  "consecutiveFailures",
  "authFailed",
  "credentialsExpiring",
  "circuitOpen",
  "runsWaiting",
  "runsPaused",
  "quarantined",
  "noEvents",
  "pollFailing",
  "scheduleMissed",
  "drift",
  "channelFailing",
  "webhookDisabled",
  "reconciliationFindings",
];

/** Throws a ConfigurationError naming what is wrong in the `alerts` section. */
export function assertAlertsConfig(value: unknown, origin: string): asserts value is AlertsConfig {
  const at = `${origin}: alerts`;
  if (!isRecord(value)) throw new ConfigurationError(`${at} must be an object { channels: { <name>: {...} } }`);
  const allowed = ["channels", "rules", "evaluateEvery", "renotifyAfter", "recoverAfter", "publicUrl"];
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown) throw new ConfigurationError(`${at}: unknown key "${unknown}"; allowed keys: ${allowed.join(", ")}`);
  if (!isRecord(value.channels) || Object.keys(value.channels).length === 0) {
    throw new ConfigurationError(`${at}.channels must name at least one channel: { ops: { type: "slack", … } }`);
  }
  for (const [name, channel] of Object.entries(value.channels)) assertChannel(name, channel, `${at}.channels.${name}`);
  if (value.rules !== undefined) {
    if (!isRecord(value.rules)) throw new ConfigurationError(`${at}.rules must be an object`);
    const unknownRule = Object.keys(value.rules).find((key) => !ruleNames.includes(key as keyof AlertRulesConfig));
    if (unknownRule) {
      throw new ConfigurationError(`${at}.rules: unknown rule "${unknownRule}"; rules: ${ruleNames.join(", ")}`);
    }
    try {
      resolveRules(value.rules as AlertRulesConfig);
    } catch (error) {
      throw new ConfigurationError(`${at}.rules: ${(error as Error).message}`, { cause: error });
    }
  }
  for (const key of ["evaluateEvery", "renotifyAfter", "recoverAfter"] as const) {
    if (value[key] === undefined) continue;
    try {
      durationToMs(value[key] as Duration);
    } catch (error) {
      throw new ConfigurationError(`${at}.${key}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function assertChannel(name: string, channel: unknown, at: string): void {
  if (!channelNamePattern.test(name)) {
    throw new ConfigurationError(`${at}: a channel name is 1-41 characters of a-z, 0-9, "_" or "-"`);
  }
  if (!isRecord(channel)) throw new ConfigurationError(`${at} must be an object { type, … }`);
  const isSecret = (v: unknown) => (typeof v === "string" && v !== "") || (isRecord(v) && "variable" in v);
  switch (channel.type) {
    case "webhook":
      if (typeof channel.url !== "string" || !/^https?:\/\//.test(channel.url)) {
        throw new ConfigurationError(`${at}.url must be an http(s) URL`);
      }
      if (!Array.isArray(channel.secrets) || channel.secrets.length === 0 || !channel.secrets.every(isSecret)) {
        throw new ConfigurationError(
          `${at}.secrets must be a non-empty array of secretFromEnv("NAME") (whsec_… signing secrets; two during a rotation)`,
        );
      }
      return;
    case "slack":
      if (!isSecret(channel.webhookUrl)) {
        throw new ConfigurationError(
          `${at}.webhookUrl must be secretFromEnv("NAME") (the URL holds the webhook's token)`,
        );
      }
      return;
    case "email": {
      const smtp = channel.smtp;
      if (!isRecord(smtp) || typeof smtp.host !== "string" || !Number.isInteger(smtp.port)) {
        throw new ConfigurationError(`${at}.smtp must be { host, port, secure?, user?, password? }`);
      }
      if (typeof channel.from !== "string" || !Array.isArray(channel.to) || channel.to.length === 0) {
        throw new ConfigurationError(`${at} needs "from" (an address) and "to" (a non-empty array of addresses)`);
      }
      return;
    }
    case "pagerduty":
      if (!isSecret(channel.routingKey)) {
        throw new ConfigurationError(`${at}.routingKey must be secretFromEnv("NAME") (the integration's routing key)`);
      }
      return;
    default:
      throw new ConfigurationError(`${at}.type must be "webhook", "slack", "email" or "pagerduty"`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
