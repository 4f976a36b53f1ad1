import { hubspot } from "../src/connectors/hubspot/index.ts";
import { inventory } from "../src/connectors/inventory/index.ts";
import { postmark } from "../src/connectors/postmark/index.ts";
import { quickbooks } from "../src/connectors/quickbooks/index.ts";
import { shopify } from "../src/connectors/shopify/index.ts";
import { stripe } from "../src/connectors/stripe/index.ts";
import { twilio } from "../src/connectors/twilio/index.ts";
import { defineConfig, secretFromEnv } from "../src/index.ts";
import { appointmentCompleted } from "./appointment-completed.ts";
import { inventoryChanges, inventorySync } from "./inventory-sync.ts";
import { orderToCash } from "./order-to-cash.ts";
import { paymentReconciled } from "./payment-reconciled.ts";

/**
 * The example deployment: the four flagship integrations, wired to the sandbox (`tenon sandbox`
 * prints these variables; `npm start` and `tenon dev` set them). Point the base URLs at the real
 * services and set real credentials, and the same integrations run against production systems.
 */
const sandbox = process.env.TENON_SANDBOX_URL ?? "http://127.0.0.1:4010";
const env = (name: string) => secretFromEnv(name);
// Sandbox APIs answer on loopback at once: a short circuit cooldown keeps the demo lively.
const circuit = { failureThreshold: 8, cooldown: "5s" } as const;

export default defineConfig({
  integrations: [orderToCash, appointmentCompleted, inventorySync, paymentReconciled],
  webhooks: {
    store: { provider: "shopify", secrets: [env("STORE_WEBHOOK_SECRET")] },
    payments: { provider: "stripe", secrets: [env("PAYMENTS_WEBHOOK_SECRET")] },
    scheduling: { provider: "standard-webhooks", secrets: [env("SCHEDULING_WEBHOOK_SECRET")] },
  },
  polls: [inventoryChanges],
  connections: {
    store: {
      ...shopify.connection({ baseUrl: `${sandbox}/store`, credentials: { apiKey: env("STORE_TOKEN") } }),
      circuit,
    },
    payments: {
      ...stripe.connection({ baseUrl: `${sandbox}/payments`, credentials: { token: env("PAYMENTS_TOKEN") } }),
      circuit,
    },
    crm: {
      ...hubspot.connection({
        baseUrl: `${sandbox}/crm`,
        tokenUrl: `${sandbox}/crm/oauth/v1/token`,
        authorizationUrl: `${sandbox}/crm/oauth/authorize`,
        credentials: {
          clientId: env("CRM_CLIENT_ID"),
          clientSecret: env("CRM_CLIENT_SECRET"),
          refreshToken: env("CRM_REFRESH_TOKEN"),
        },
      }),
      circuit,
    },
    accounting: {
      ...quickbooks.connection({
        baseUrl: `${sandbox}/accounting`,
        realmId: env("ACCOUNTING_REALM_ID"),
        tokenUrl: `${sandbox}/accounting/oauth2/v1/tokens/bearer`,
        authorizationUrl: `${sandbox}/accounting/connect/oauth2`,
        credentials: {
          clientId: env("ACCOUNTING_CLIENT_ID"),
          clientSecret: env("ACCOUNTING_CLIENT_SECRET"),
          refreshToken: env("ACCOUNTING_REFRESH_TOKEN"),
        },
      }),
      circuit,
    },
    inventory: {
      ...inventory.connection({ baseUrl: `${sandbox}/inventory`, credentials: { apiKey: env("INVENTORY_API_KEY") } }),
      circuit,
    },
    email: {
      ...postmark.connection({ baseUrl: `${sandbox}/email`, credentials: { apiKey: env("EMAIL_API_KEY") } }),
      circuit,
    },
    sms: {
      ...twilio.connection({
        baseUrl: `${sandbox}/sms`,
        accountSid: env("SMS_USERNAME"),
        credentials: { username: env("SMS_USERNAME"), password: env("SMS_PASSWORD") },
      }),
      circuit,
    },
  },
});
