/**
 * When a provider tries a webhook again after an attempt failed (no 2xx in time). Each sandbox system
 * follows its provider's documented schedule, so an integration learns here how long it may be down
 * before a provider gives up on a message, as it would in production.
 */
export interface WebhookRetrySchedule {
  /** Whose schedule this is, and where it is documented. */
  readonly description: string;
  /** The wait before each retry, counted from the failure before it; one entry per retry. */
  readonly retryDelaysMs: readonly number[];
}

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;

/**
 * Shopify: 8 retries over 4 hours with exponential backoff (https://shopify.dev/changelog/updates-to-webhook-retry-mechanism,
 * September 2024; before that it was 19 retries over 48 hours). Shopify does not publish the intervals:
 * these double from a minute, rounded so the last retry comes 4 hours after the first attempt.
 */
export const shopifyWebhookRetries: WebhookRetrySchedule = {
  description: "Shopify: 8 retries over 4 hours, exponential backoff",
  retryDelaysMs: [1, 2, 4, 8, 15, 30, 60, 120].map((minutes) => minutes * minute),
};

/**
 * Stripe in live mode: "up to three days" with exponential backoff (https://docs.stripe.com/webhooks,
 * "Automatic retries"; test mode retries only three times over a few hours). Stripe does not publish
 * the intervals: these double from a minute, 12 retries, the last 68 hours after the first attempt.
 */
export const stripeWebhookRetries: WebhookRetrySchedule = {
  description: "Stripe (live mode): up to 3 days, exponential backoff",
  retryDelaysMs: Array.from({ length: 12 }, (_, retry) => 2 ** retry * minute),
};

/**
 * Standard Webhooks senders, after Svix, its reference implementation (https://docs.svix.com/retries):
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 7 retries over about 27 and a half hours. Also the default
 * for systems that name no provider's schedule.
 */
export const standardWebhooksRetries: WebhookRetrySchedule = {
  description: "Standard Webhooks (Svix): 7 retries over 27.5 hours",
  retryDelaysMs: [5 * second, 5 * minute, 30 * minute, 2 * hour, 5 * hour, 10 * hour, 10 * hour],
};

/** `90000` → `"1m30s"`, `7200000` → `"2h"`: how the state shows a schedule. */
export function describeDelay(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [
    ["h", hour],
    ["m", minute],
    ["s", second],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}ms`);
  return parts.join("");
}
