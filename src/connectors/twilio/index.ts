import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import { ConfigurationError } from "../../sdk/errors.ts";
import { checkAnswer, defineConnector, defineOperation } from "../define-connector.ts";
import {
  getMessageInput,
  type SendSmsResult,
  sendSmsInput,
  sendSmsOutput,
  twilioMessage,
  twilioMessagePage,
} from "./schemas.ts";

export * from "./schemas.ts";

export interface TwilioOptions {
  /** Default https://api.twilio.com. */
  baseUrl?: string;
  /** `AC…`: part of every path (`/2010-04-01/Accounts/{AccountSid}/…`). */
  accountSid: string;
  /** `{ username: accountSid, password: authToken }` (or an API key's SID and secret). */
  credentials?: ConnectionCredentials;
}

/** How far back `sendSms` looks for a text an earlier attempt sent. */
const lookBackMs = 24 * 60 * 60 * 1000;
/** The most recent messages to the same number that `sendSms` inspects. */
const lookBackMessages = 50;

/**
 * Twilio Programmable Messaging, REST API 2010-04-01 (https://www.twilio.com/docs/messaging/api).
 * Form-encoded requests, HTTP Basic auth. The REST API honours no idempotency key, so `sendSms`
 * first looks for the same text to the same number among the recent messages.
 */
export const twilio = defineConnector({
  id: "twilio",
  title: "Twilio Programmable Messaging",
  apiVersion: "2010-04-01",
  connection: (options: TwilioOptions) => {
    if (!/^AC[0-9a-fA-F]{32}$/.test(options.accountSid)) {
      // Never the value itself: with swapped environment variables it is the auth token.
      const given = String(options.accountSid ?? "");
      throw new ConfigurationError(
        `twilio: accountSid must be "AC" followed by 32 hex digits (34 characters); the value given has ${given.length} characters and starts with "${given.slice(0, 2)}". Check that it is the Account SID, not the auth token`,
      );
    }
    const baseUrl = (options.baseUrl ?? "https://api.twilio.com").replace(/\/$/, "");
    return {
      baseUrl: `${baseUrl}/2010-04-01/Accounts/${options.accountSid}`,
      auth: { type: "basic" },
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Twilio limits concurrent requests per account (100 by default, then 429 with code 20429) and
      // queues messages beyond a sender's throughput rather than refusing them: 25/s stays well clear.
      rateLimit: "25/s burst 50",
      // I-Twilio-Idempotency-Token exists only on Twilio's webhooks to us, not on its REST API.
      idempotencyHeader: false,
    };
  },
  webhooks: { provider: "twilio", dedupKey: "MessageSid + MessageStatus" },
  operations: {
    sendSms: defineOperation({
      description: "Sends one SMS, unless the same text went to the same number in the last 24 hours",
      input: sendSmsInput,
      output: sendSmsOutput,
      idempotency: "check-then-act",
      async call(client, input): Promise<SendSmsResult> {
        // Not filtered by DateSent: a message an earlier attempt queued has no date_sent yet.
        const recent = await client.get("/Messages.json", {
          query: { To: input.to, From: input.from, PageSize: lookBackMessages },
        });
        // The list the check reads is checked like an answer: a changed shape must fail, not read as "not sent yet".
        const page = checkAnswer(twilioMessagePage, recent.body, "twilio.sendSms (GET /Messages.json)");
        const since = Date.now() - lookBackMs;
        const earlier = page.messages.find(
          (message) =>
            message.direction.startsWith("outbound") &&
            message.body === input.body &&
            Date.parse(message.date_created) >= since,
        );
        if (earlier) return { sid: earlier.sid, status: earlier.status, alreadySent: true };
        const form = new URLSearchParams({ To: input.to, From: input.from, Body: input.body });
        if (input.statusCallback) form.set("StatusCallback", input.statusCallback);
        const sent = await client.post("/Messages.json", { form });
        const message = checkAnswer(twilioMessage, sent.body, "twilio.sendSms (POST /Messages.json)");
        return { sid: message.sid, status: message.status, alreadySent: false };
      },
    }),
    getMessage: defineOperation({
      description: "Reads one message (its status, segments, price and error code)",
      input: getMessageInput,
      output: twilioMessage,
      idempotency: "read",
      async call(client, input) {
        return (await client.get(`/Messages/${input.sid}.json`)).body;
      },
    }),
  },
});
