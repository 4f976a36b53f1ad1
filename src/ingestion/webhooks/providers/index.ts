import type { WebhookProvider } from "../webhook-provider.ts";
import { githubProvider } from "./github.ts";
import { hubspotProvider } from "./hubspot.ts";
import { shopifyProvider } from "./shopify.ts";
import { slackProvider } from "./slack.ts";
import { standardWebhooksProvider } from "./standard-webhooks.ts";
import { stripeProvider } from "./stripe.ts";
import { twilioProvider } from "./twilio.ts";

/**
 * The providers Tenon knows by name; any other HMAC sender is a `genericHmacProvider(config)`.
 * No prototype: a configured name like "toString" or "constructor" finds nothing.
 */
export const builtInProviders: Readonly<Record<string, WebhookProvider>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, WebhookProvider>, {
    stripe: stripeProvider,
    shopify: shopifyProvider,
    github: githubProvider,
    slack: slackProvider,
    twilio: twilioProvider,
    hubspot: hubspotProvider,
    "standard-webhooks": standardWebhooksProvider,
  }),
);

export { type GenericHmacConfig, genericHmacProvider } from "./generic-hmac.ts";
