import { defineConfig, secretFromEnv } from "tenon";
import { hubspot } from "tenon/connectors/hubspot";
import { inventory } from "tenon/connectors/inventory";
import { postmark } from "tenon/connectors/postmark";
import { quickbooks } from "tenon/connectors/quickbooks";
import { shopify } from "tenon/connectors/shopify";
import { stripe } from "tenon/connectors/stripe";
import { twilio } from "tenon/connectors/twilio";
import { appointmentCompleted } from "./appointment-completed.ts";
import { inventoryChanges, inventorySync } from "./inventory-sync.ts";
import { orderToCash } from "./order-to-cash.ts";
import { paymentReconciled } from "./payment-reconciled.ts";
import { paymentsVsAccounting, storeVsAccounting } from "./reconciliations.ts";

/**
 * The example deployment: the four flagship integrations, wired to the sandbox (`tenon sandbox`
 * prints these variables; `npm start` and `tenon dev` set them). Point the base URLs at the real
 * services and set real credentials, and the same integrations run against production systems.
 *
 * Per connection, the environment may override where it goes and how hard it is pushed, without an
 * edit here: `<CONNECTION>_BASE_URL` (default: the sandbox system of that name), `<CONNECTION>_RATE_LIMIT`
 * (`"50/s burst 100"`, or `off`; default: the connector's own limit) and, for the OAuth connections,
 * `<CONNECTION>_TOKEN_URL` and `<CONNECTION>_AUTHORIZATION_URL` (default: the sandbox's paths under the base URL).
 */
const sandbox = process.env.TENON_SANDBOX_URL ?? "http://127.0.0.1:4010";
const env = (name: string) => secretFromEnv(name);
/** Not secrets, but part of a base URL, so read as the config loads: the sandbox sets them too. */
const identifier = (name: string) => {
  const value = process.env[name]?.trim();
  if (!value) throw new Error(`the environment variable ${name} is not set; \`tenon sandbox\` prints it`);
  return value;
};
const setting = (connection: string, field: string) =>
  process.env[`${connection.toUpperCase()}_${field}`]?.trim() || undefined;
const baseUrl = (connection: string) => setting(connection, "BASE_URL") ?? `${sandbox}/${connection}`;
const oauthUrl = (connection: string, kind: "TOKEN_URL" | "AUTHORIZATION_URL", sandboxPath: string) =>
  setting(connection, kind) ?? `${baseUrl(connection)}${sandboxPath}`;
/** Spread after the connector's settings: replaces its rate limit when the environment names one. */
const rateLimit = (connection: string) => {
  const limit = setting(connection, "RATE_LIMIT");
  if (limit === undefined) return {};
  return { rateLimit: /^(off|none|false)$/i.test(limit) ? (false as const) : limit };
};
// Sandbox APIs answer on loopback at once: a short circuit cooldown keeps the demo lively.
const circuit = { failureThreshold: 8, cooldown: "5s" } as const;

export default defineConfig({
  integrations: [orderToCash, appointmentCompleted, inventorySync, paymentReconciled],
  // Every order has its invoice, with the same total and email: `tenon reconcile run store-vs-accounting`, or
  // on a schedule with storeVsAccounting({ schedule: "0 * * * *" }). Missing invoices are made again at once.
  // Every succeeded payment has its QuickBooks payment against its invoice: `tenon reconcile run payments-vs-accounting`.
  reconciliations: [storeVsAccounting(), paymentsVsAccounting()],
  // Told once when something needs a person, and once when it is resolved: in the team's Slack channel and by
  // email (the sandbox's chat and mail systems stand in for both; every rule is on with its default).
  alerts: {
    channels: {
      ops: { type: "slack", webhookUrl: env("CHAT_OPS_WEBHOOK_URL") },
      team: {
        type: "email",
        smtp: {
          host: identifier("MAIL_SMTP_HOST"),
          port: Number(identifier("MAIL_SMTP_PORT")),
          user: identifier("MAIL_USERNAME"),
          password: env("MAIL_PASSWORD"),
        },
        from: "tenon@example.com",
        to: ["ops@example.com"],
      },
    },
    // The sandbox's outages last seconds, not minutes: a circuit open for 15 s is worth telling here.
    rules: { circuitOpen: { longerThan: "15s" } },
    evaluateEvery: "5s",
  },
  webhooks: {
    store: { provider: "shopify", secrets: [env("STORE_WEBHOOK_SECRET")] },
    payments: { provider: "stripe", secrets: [env("PAYMENTS_WEBHOOK_SECRET")] },
    scheduling: { provider: "standard-webhooks", secrets: [env("SCHEDULING_WEBHOOK_SECRET")] },
  },
  polls: [inventoryChanges],
  connections: {
    store: {
      ...shopify.connection({ baseUrl: baseUrl("store"), credentials: { apiKey: env("STORE_TOKEN") } }),
      circuit,
      ...rateLimit("store"),
    },
    payments: {
      ...stripe.connection({ baseUrl: baseUrl("payments"), credentials: { token: env("PAYMENTS_TOKEN") } }),
      circuit,
      ...rateLimit("payments"),
    },
    crm: {
      ...hubspot.connection({
        baseUrl: baseUrl("crm"),
        tokenUrl: oauthUrl("crm", "TOKEN_URL", "/oauth/v1/token"),
        authorizationUrl: oauthUrl("crm", "AUTHORIZATION_URL", "/oauth/authorize"),
        credentials: {
          clientId: env("CRM_CLIENT_ID"),
          clientSecret: env("CRM_CLIENT_SECRET"),
          refreshToken: env("CRM_REFRESH_TOKEN"),
        },
      }),
      circuit,
      ...rateLimit("crm"),
    },
    accounting: {
      ...quickbooks.connection({
        baseUrl: baseUrl("accounting"),
        realmId: identifier("ACCOUNTING_REALM_ID"),
        tokenUrl: oauthUrl("accounting", "TOKEN_URL", "/oauth2/v1/tokens/bearer"),
        authorizationUrl: oauthUrl("accounting", "AUTHORIZATION_URL", "/connect/oauth2"),
        credentials: {
          clientId: env("ACCOUNTING_CLIENT_ID"),
          clientSecret: env("ACCOUNTING_CLIENT_SECRET"),
          refreshToken: env("ACCOUNTING_REFRESH_TOKEN"),
        },
      }),
      circuit,
      ...rateLimit("accounting"),
    },
    inventory: {
      ...inventory.connection({ baseUrl: baseUrl("inventory"), credentials: { apiKey: env("INVENTORY_API_KEY") } }),
      circuit,
      ...rateLimit("inventory"),
    },
    email: {
      ...postmark.connection({ baseUrl: baseUrl("email"), credentials: { apiKey: env("EMAIL_API_KEY") } }),
      circuit,
      ...rateLimit("email"),
    },
    sms: {
      ...twilio.connection({
        baseUrl: baseUrl("sms"),
        accountSid: identifier("SMS_ACCOUNT_SID"),
        credentials: { username: env("SMS_USERNAME"), password: env("SMS_PASSWORD") },
      }),
      circuit,
      ...rateLimit("sms"),
    },
  },
});
