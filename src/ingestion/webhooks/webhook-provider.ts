/**
 * A webhook provider: how one sender (Stripe, Shopify, …) signs its requests and
 * how its verified requests become events. One module per provider in
 * `providers/`; the receiver (`server/`) knows nothing provider-specific.
 *
 * Verification sees the raw bytes exactly as they arrived: nothing is parsed or
 * re-serialised before the signature is checked.
 */

export interface WebhookRequest {
  /** Upper-case HTTP method. */
  method: string;
  /**
   * The URL as the provider called it, scheme and host included
   * (`https://hooks.example.com/hooks/sms?x=1`). Twilio and HubSpot sign it.
   */
  url: string;
  /** Header names lower-cased; a repeated header keeps its first value. */
  headers: Readonly<Record<string, string | undefined>>;
  rawBody: Buffer;
}

export interface VerifyOptions {
  /** Every currently active secret: during a rotation, a signature made with any of them is accepted. */
  secrets: readonly string[];
  /** Epoch milliseconds. */
  now: number;
  /** Allowed clock difference for timestamped schemes, in seconds, both into the past and the future. Default 300. */
  toleranceSec?: number;
}

/** Which check failed; the receiver answers 401 naming it (never which secret was tried). */
export type VerifyFailure =
  | { ok: false; check: "missing-header"; message: string }
  | { ok: false; check: "malformed-header"; message: string }
  | { ok: false; check: "timestamp"; message: string }
  | { ok: false; check: "signature"; message: string };

export type VerifyResult = { ok: true } | VerifyFailure;

/** One event made from a verified request. */
export interface InboundEvent {
  type: string;
  /** The provider's own id for this event; redeliveries carry the same one. */
  dedupKey: string;
  payload: unknown;
  /**
   * The JSON text `payload` was parsed from, when the payload is the whole verified body: the event stores the
   * body as it came instead of serialising the parsed value again. Absent when the payload was built (form
   * fields, one element of a batch).
   */
  payloadJson?: string;
}

export interface ParsedWebhook {
  events: InboundEvent[];
  /**
   * Set when the provider expects a specific answer instead of the usual
   * acknowledgement (Slack's `url_verification` challenge); no event is stored then.
   */
  reply?: { status: number; contentType: string; body: string };
}

export interface WebhookProvider {
  readonly name: string;
  verify(request: WebhookRequest, options: VerifyOptions): VerifyResult;
  /** Turns a verified request into events; throws UnparseableBodyError when the body is not what the provider sends. */
  parse(request: WebhookRequest): ParsedWebhook;
  /**
   * The provider's delivery id from headers alone, if it sends one: it dedupes
   * a request whose body could not be parsed (a quarantined redelivery is stored once).
   */
  deliveryIdFromHeaders(request: WebhookRequest): string | null;
}

/** A verified body that cannot be turned into events: it is quarantined with this message as the reason. */
export class UnparseableBodyError extends Error {
  override readonly name = "UnparseableBodyError";
}

export const defaultToleranceSec = 300;
