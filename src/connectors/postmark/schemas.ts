import { z } from "zod";

/** The metadata field where `sendEmail` keeps its reference; reserved. */
export const referenceField = "tenon_ref";

export const sendEmailInput = z
  .object({
    /** `sender@example.com` or `Jane Sender <sender@example.com>`; a confirmed sender signature at Postmark. */
    from: z.string().min(1),
    /** One or more addresses, comma-separated, each optionally with a name (Postmark's format). */
    to: z.string().min(1),
    subject: z.string(),
    textBody: z.string().min(1).optional(),
    htmlBody: z.string().min(1).optional(),
    tag: z.string().max(1000).optional(),
    /** Up to 9 string fields (Postmark allows 10; one is the reference). */
    metadata: z.record(z.string().max(20), z.string().max(80)).optional(),
    /** Default "outbound" (transactional). */
    messageStream: z.string().min(1).optional(),
    /** What makes this email unique (an order number); default: the step's idempotency key. */
    reference: z.string().min(1).optional(),
  })
  .refine((input) => input.textBody !== undefined || input.htmlBody !== undefined, {
    message: "give textBody, htmlBody or both",
  })
  .refine((input) => input.metadata?.[referenceField] === undefined, {
    message: `metadata.${referenceField} is reserved for the reference; use "reference"`,
  })
  .refine((input) => Object.keys(input.metadata ?? {}).length <= 9, {
    message: "metadata takes at most 9 fields (Postmark allows 10, one is the reference)",
  });

export type SendEmailInput = z.input<typeof sendEmailInput>;

export const sendEmailOutput = z.object({
  messageId: z.string(),
  /** The recipients as Postmark recorded them. */
  to: z.string(),
  /** ISO 8601. */
  submittedAt: z.string(),
  /** True when an earlier attempt had already sent this email: nothing was sent now. */
  alreadySent: z.boolean(),
});

export type SendEmailResult = z.output<typeof sendEmailOutput>;

/** `POST /email`'s answer (https://postmarkapp.com/developer/api/email-api). */
export const sendEmailResponse = z.looseObject({
  To: z.string(),
  SubmittedAt: z.string(),
  MessageID: z.string(),
  ErrorCode: z.number(),
  Message: z.string(),
});

const address = z.looseObject({ Email: z.string(), Name: z.string().nullish() });

/** One message of the outbound search (https://postmarkapp.com/developer/api/messages-api). */
export const outboundMessage = z.looseObject({
  MessageID: z.string(),
  To: z.array(address),
  ReceivedAt: z.string(),
  Metadata: z.record(z.string(), z.string()).nullish(),
  Status: z.string(),
});

export const outboundSearchResponse = z.looseObject({
  TotalCount: z.number(),
  Messages: z.array(outboundMessage),
});
