import { defineConfig, secretFromEnv } from "tenon";
import { hubspot } from "tenon/connectors/hubspot";
import { orderToCrm } from "./src/order-to-crm.js";

/**
 * The integrations this project runs, where their events come from and the systems they call.
 * `tenon dev` (and `tenon/testing`) start the sandbox and set the variables read here; in production,
 * set them to the real systems' URLs and credentials (see .env.example).
 */
const sandbox = process.env.TENON_SANDBOX_URL ?? "http://127.0.0.1:4010";
const crmUrl = process.env.CRM_BASE_URL ?? `${sandbox}/crm`;

export default defineConfig({
  integrations: [orderToCrm],
  webhooks: {
    // POST /hooks/store, verified with the Shopify app's client secret.
    store: { provider: "shopify", secrets: [secretFromEnv("STORE_WEBHOOK_SECRET")] },
  },
  connections: {
    crm: hubspot.connection({
      baseUrl: crmUrl,
      tokenUrl: process.env.CRM_TOKEN_URL ?? `${crmUrl}/oauth/v1/token`,
      authorizationUrl: process.env.CRM_AUTHORIZATION_URL ?? `${crmUrl}/oauth/authorize`,
      credentials: {
        clientId: secretFromEnv("CRM_CLIENT_ID"),
        clientSecret: secretFromEnv("CRM_CLIENT_SECRET"),
        refreshToken: secretFromEnv("CRM_REFRESH_TOKEN"),
      },
    }),
  },
});
