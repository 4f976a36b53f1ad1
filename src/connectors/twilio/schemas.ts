import { z } from "zod";

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 number like +14155550123");

export const sendSmsInput = z
  .object({
    to: e164,
    /** A Twilio number (E.164), short code or alphanumeric sender id. */
    from: z.string().min(1),
    /** Up to 1,600 characters (Twilio splits it into segments). */
    body: z.string().min(1).max(1600),
    /** Where Twilio POSTs the message's status changes (signed with X-Twilio-Signature). */
    statusCallback: z.url().optional(),
    /** Text that makes this message unique (an invoice number); it must appear in the body. */
    reference: z.string().min(1).optional(),
  })
  .refine((input) => input.reference === undefined || input.body.includes(input.reference), {
    message: "the reference must appear in the body: Twilio keeps no metadata, the body is what is searched",
    path: ["reference"],
  });

export type SendSmsInput = z.input<typeof sendSmsInput>;

export const sendSmsOutput = z.object({
  /** `SM…`. */
  sid: z.string(),
  /** Twilio's status when answered: "queued" for a new message, later ones for an earlier attempt's. */
  status: z.string(),
  /** True when an earlier attempt had already sent this text: nothing was sent now. */
  alreadySent: z.boolean(),
});

export type SendSmsResult = z.output<typeof sendSmsOutput>;

export const getMessageInput = z.object({ sid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, "must be an SM… sid") });

/** The Message resource (https://www.twilio.com/docs/messaging/api/message-resource); dates are RFC 2822. */
export const twilioMessage = z.looseObject({
  sid: z.string(),
  account_sid: z.string(),
  to: z.string(),
  from: z.string().nullable(),
  body: z.string(),
  status: z.string(),
  direction: z.string(),
  num_segments: z.string(),
  date_created: z.string(),
  date_updated: z.string(),
  date_sent: z.string().nullable(),
  price: z.string().nullable(),
  error_code: z.number().nullable(),
  error_message: z.string().nullable(),
});

export type TwilioMessage = z.output<typeof twilioMessage>;

export const twilioMessagePage = z.looseObject({
  messages: z.array(twilioMessage),
  page: z.number(),
  page_size: z.number(),
  next_page_uri: z.string().nullable(),
});

/**
 * A status callback's form fields, as Tenon's webhook receiver hands them over (event type
 * `message.<status>`; https://www.twilio.com/docs/messaging/guides/track-outbound-message-status).
 */
export const statusCallbackSchema = z.looseObject({
  MessageSid: z.string(),
  MessageStatus: z.string(),
  AccountSid: z.string(),
  From: z.string(),
  To: z.string(),
  ErrorCode: z.string().optional(),
});

export type StatusCallback = z.output<typeof statusCallbackSchema>;
