import { createHash } from "node:crypto";
import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import { checkAnswer, defineConnector, defineOperation } from "../define-connector.ts";
import {
  outboundSearchResponse,
  referenceField,
  type SendEmailResult,
  sendEmailInput,
  sendEmailOutput,
  sendEmailResponse,
} from "./schemas.ts";

export * from "./schemas.ts";

export interface PostmarkOptions {
  /** Default https://api.postmarkapp.com. */
  baseUrl?: string;
  /** `{ apiKey }`: the server token. */
  credentials?: ConnectionCredentials;
}

/** Postmark caps metadata values at 80 characters; longer references are stored as their hash. */
const maxReferenceLength = 80;

/**
 * Postmark (https://postmarkapp.com/developer): transactional email. The API has no idempotency key,
 * so `sendEmail` stores a reference in the message's metadata and searches for it before sending.
 */
export const postmark = defineConnector({
  id: "postmark",
  title: "Postmark",
  apiVersion: "Postmark API (unversioned), as documented at https://postmarkapp.com/developer/api/overview",
  connection: (options: PostmarkOptions) => ({
    baseUrl: options.baseUrl ?? "https://api.postmarkapp.com",
    auth: { type: "apiKey", in: "header", name: "X-Postmark-Server-Token" },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Postmark refuses requests whose Accept (and Content-Type, for bodies) is not JSON.
    headers: { Accept: "application/json" },
    // Postmark documents no request rate limit for sending; its 429s still slow the connection down.
    idempotencyHeader: false,
  }),
  operations: {
    sendEmail: defineOperation({
      description: "Sends one email, unless an earlier attempt with the same reference already did",
      input: sendEmailInput,
      output: sendEmailOutput,
      idempotency: "check-then-act",
      async call(client, input, context): Promise<SendEmailResult> {
        const given = input.reference ?? context.stepKey;
        const reference = given === undefined ? undefined : storedReference(given);
        if (reference !== undefined) {
          const search = await client.get("/messages/outbound", {
            query: {
              count: 1,
              offset: 0,
              recipient: firstAddress(input.to),
              [`metadata_${referenceField}`]: reference,
              // Without it Postmark searches only the default transactional stream: a broadcast sent
              // by an earlier attempt would not be found, and would be sent again.
              messagestream: input.messageStream,
            },
          });
          // A search answer of another shape must fail the step, not read as "not sent yet".
          const found = checkAnswer(outboundSearchResponse, search.body, "postmark.sendEmail (GET /messages/outbound)");
          const existing = found.Messages[0];
          if (existing) {
            return {
              messageId: existing.MessageID,
              to: existing.To.map((recipient) => recipient.Email).join(", "),
              submittedAt: existing.ReceivedAt,
              alreadySent: true,
            };
          }
        }
        const sent = await client.post("/email", {
          json: {
            From: input.from,
            To: input.to,
            Subject: input.subject,
            TextBody: input.textBody,
            HtmlBody: input.htmlBody,
            Tag: input.tag,
            Metadata: reference === undefined ? input.metadata : { ...input.metadata, [referenceField]: reference },
            MessageStream: input.messageStream,
          },
        });
        const answer = checkAnswer(sendEmailResponse, sent.body, "postmark.sendEmail (POST /email)");
        return { messageId: answer.MessageID, to: answer.To, submittedAt: answer.SubmittedAt, alreadySent: false };
      },
    }),
  },
});

function storedReference(reference: string): string {
  if (reference.length <= maxReferenceLength) return reference;
  return `sha256:${createHash("sha256").update(reference).digest("base64url")}`;
}

/** The search's `recipient` filter takes one address: the first of `to`. */
function firstAddress(to: string): string {
  return /[^\s<>",]+@[^\s<>",]+/.exec(to)?.[0] ?? to.trim();
}
