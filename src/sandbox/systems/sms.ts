import { createHmac, randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { SandboxContext, SandboxReply, SandboxRequest, SandboxSystem } from "../sandbox-system.ts";
import { setKept } from "./record-limits.ts";

/**
 * A Twilio-like Programmable Messaging API (REST API 2010-04-01,
 * https://www.twilio.com/docs/messaging/api/message-resource): form-encoded `POST …/Messages.json`
 * with HTTP Basic auth (AccountSid:AuthToken), JSON answers, and signed status callbacks
 * (`X-Twilio-Signature`) to each message's `StatusCallback` as it moves queued → sent → delivered.
 * It keeps the newest 50,000 messages, each with its callback deliveries (`maxKeptRecords`), and drops
 * older ones, so hours of demo traffic stay in bounded memory.
 */
export interface SmsOptions {
  /** "AC" + 32 hex; random by default. */
  accountSid?: string;
  /** 32 hex; random by default. Also the key of the status callbacks' signatures, as at Twilio. */
  authToken?: string;
  /** Time between a message's status changes (queued → sent → delivered), in ms. Default 100. */
  statusDelayMs?: number;
  /** Attempts per status callback before it is given up. Default 8 (backoff from 250 ms, capped at 10 s). */
  callbackAttempts?: number;
}

export type SmsStatus = "queued" | "sent" | "delivered";

export interface StatusCallbackDelivery {
  /** `I-Twilio-Idempotency-Token`: the same on every retry of this callback. */
  id: string;
  url: string;
  messageStatus: SmsStatus;
  attempts: number;
  state: "pending" | "delivered" | "failed";
  lastStatus: number | null;
  lastError: string | null;
}

/** A message as Twilio's Message resource shows it, with what the sandbox tracks beside it. */
export interface SmsMessage {
  sid: string;
  to: string;
  from: string;
  body: string;
  messagingServiceSid: string | null;
  status: SmsStatus;
  numSegments: number;
  createdAt: number;
  updatedAt: number;
  sentAt: number | null;
  statusCallback: string | null;
  history: { status: SmsStatus; at: string }[];
  callbacks: StatusCallbackDelivery[];
}

export interface SmsSystem extends SandboxSystem {
  readonly accountSid: string;
  messages(): readonly SmsMessage[];
  /** Resolves when every status change and callback delivery has finished (or after `timeoutMs`). */
  drainCallbacks(timeoutMs?: number): Promise<void>;
}

const apiVersion = "2010-04-01";
const e164 = /^\+[1-9]\d{6,14}$/;
/** Alphanumeric sender ids: 1–11 letters, digits and spaces, at least one letter. */
const alphanumericSender = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
const maxBodyLength = 1600;
const defaultPageSize = 50;
const maxPageSize = 1000;

class TwilioError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function createSms(context: SandboxContext, options: SmsOptions = {}): SmsSystem {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString("hex")}`;
  const authToken = options.authToken ?? randomBytes(16).toString("hex");
  const statusDelayMs = options.statusDelayMs ?? 100;
  const callbackAttempts = options.callbackAttempts ?? 8;
  const accountPath = `/${apiVersion}/Accounts/${accountSid}`;
  const messageService = `+1500555${String(randomBytes(2).readUInt16BE() % 10_000).padStart(4, "0")}`;
  let revoked = false;
  const messages = new Map<string, SmsMessage>();
  const inFlight = new Set<Promise<void>>();

  const authorize = (request: SandboxRequest): void => {
    const [scheme, encoded] = (request.headers.authorization ?? "").split(" ");
    const [username, password] = Buffer.from(encoded ?? "", "base64")
      .toString("utf8")
      .split(/:(.*)/s);
    if (scheme?.toLowerCase() !== "basic" || revoked || username !== accountSid || password !== authToken) {
      throw new TwilioError(401, 20003, "Authenticate");
    }
    const pathAccount = (request.params as { accountSid?: string }).accountSid;
    if (pathAccount !== accountSid) {
      throw new TwilioError(
        404,
        20404,
        `The requested resource ${new URL(request.url, "http://x").pathname} was not found`,
      );
    }
  };

  const advance = (message: SmsMessage, status: SmsStatus): void => {
    const now = context.now();
    message.status = status;
    message.updatedAt = now;
    if (status === "sent") message.sentAt = now;
    message.history.push({ status, at: new Date(now).toISOString() });
  };

  const track = (work: Promise<void>): void => {
    inFlight.add(work);
    const done = () => inFlight.delete(work);
    work.then(done, done);
  };

  /**
   * Twilio moves the message on by itself, whether or not its callbacks get through; each change is
   * POSTed to the StatusCallback, one after the other, so "delivered" never overtakes "sent".
   */
  const deliverLater = (message: SmsMessage): void => {
    let callbacks = Promise.resolve();
    track(
      (async () => {
        for (const status of ["sent", "delivered"] as const) {
          await sleep(statusDelayMs);
          advance(message, status);
          if (message.statusCallback) {
            callbacks = callbacks.then(() => postStatusCallback(message, status));
            track(callbacks);
          }
        }
      })(),
    );
  };

  const postStatusCallback = async (message: SmsMessage, status: SmsStatus): Promise<void> => {
    const url = message.statusCallback as string;
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: apiVersion,
      From: message.from,
      MessageSid: message.sid,
      MessageStatus: status,
      SmsSid: message.sid,
      SmsStatus: status,
      To: message.to,
    };
    const delivery: StatusCallbackDelivery = {
      id: `${message.sid}-${status}`,
      url,
      messageStatus: status,
      attempts: 0,
      state: "pending",
      lastStatus: null,
      lastError: null,
    };
    message.callbacks.push(delivery);
    const body = new URLSearchParams(params).toString();
    while (delivery.state === "pending") {
      delivery.attempts += 1;
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "TwilioProxy/1.1",
            "x-twilio-signature": twilioSignature(authToken, url, params),
            "i-twilio-idempotency-token": delivery.id,
          },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        delivery.lastStatus = response.status;
        delivery.lastError = null;
        if (response.ok) delivery.state = "delivered";
      } catch (error) {
        delivery.lastStatus = null;
        delivery.lastError = (error as Error).message;
      }
      if (delivery.state === "pending" && delivery.attempts >= callbackAttempts) delivery.state = "failed";
      if (delivery.state === "pending") await sleep(Math.min(250 * 2 ** (delivery.attempts - 1), 10_000));
    }
  };

  const create = (params: Record<string, unknown>): SmsMessage => {
    const field = (name: string): string | undefined => {
      const value = params[name];
      return typeof value === "string" && value.length > 0 ? value : undefined;
    };
    const to = field("To");
    const from = field("From");
    const serviceSid = field("MessagingServiceSid");
    const body = field("Body");
    const statusCallback = field("StatusCallback");
    if (!to) throw new TwilioError(400, 21604, "A 'To' phone number is required.");
    if (!e164.test(to)) throw new TwilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    if (!from && !serviceSid) throw new TwilioError(400, 21603, "A 'From' phone number is required.");
    if (from && !e164.test(from) && !alphanumericSender.test(from)) {
      throw new TwilioError(400, 21212, `Invalid From Number (caller ID): ${from}`);
    }
    if (serviceSid && !/^MG[0-9a-f]{32}$/i.test(serviceSid)) {
      throw new TwilioError(400, 21701, `The Messaging Service Sid ${serviceSid} is invalid.`);
    }
    if (!body && params.MediaUrl === undefined) throw new TwilioError(400, 21602, "Message body is required.");
    if (body && body.length > maxBodyLength) {
      throw new TwilioError(400, 21617, `The concatenated message body exceeds the ${maxBodyLength} character limit.`);
    }
    if (statusCallback !== undefined && !/^https?:\/\//i.test(statusCallback)) {
      throw new TwilioError(400, 21609, `Invalid StatusCallback url: ${statusCallback}`);
    }
    const now = context.now();
    const message: SmsMessage = {
      sid: `SM${randomBytes(16).toString("hex")}`,
      to,
      from: from ?? messageService,
      body: body ?? "",
      messagingServiceSid: serviceSid ?? null,
      status: "queued",
      numSegments: countSegments(body ?? ""),
      createdAt: now,
      updatedAt: now,
      sentAt: null,
      statusCallback: statusCallback ?? null,
      history: [{ status: "queued", at: new Date(now).toISOString() }],
      callbacks: [],
    };
    setKept(messages, message.sid, message);
    deliverLater(message);
    return message;
  };

  const view = (message: SmsMessage) => resourceView(message, accountSid, accountPath);

  return {
    name: "sms",
    accountSid,
    messages: () => [...messages.values()],
    async drainCallbacks(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (inFlight.size > 0 && Date.now() < deadline) await Promise.race([...inFlight, sleep(50)]).catch(() => {});
    },

    registerRoutes(app: FastifyInstance) {
      app.setErrorHandler((error: Error, request, reply) => answerError(error, request, reply));
      app.addHook("preHandler", async (request) => authorize(request));

      app.post("/2010-04-01/Accounts/:accountSid/Messages.json", async (request, reply) => {
        // Twilio reads only form parameters: a JSON body carries none, so "To" is missing.
        const form = /^application\/x-www-form-urlencoded/i.test(request.headers["content-type"] ?? "");
        const message = create(form ? ((request.body ?? {}) as Record<string, unknown>) : {});
        return reply.code(201).send(view(message));
      });

      app.get("/2010-04-01/Accounts/:accountSid/Messages.json", async (request) => {
        const query = request.query as Record<string, string | undefined>;
        const pageSize = Math.min(Number(query.PageSize ?? defaultPageSize) || defaultPageSize, maxPageSize);
        const page = Math.max(Number(query.Page ?? 0) || 0, 0);
        const matches = [...messages.values()].filter(matchesList(query)).reverse();
        const pageMessages = matches.slice(page * pageSize, (page + 1) * pageSize);
        const listUri = (at: number) => {
          const params = new URLSearchParams();
          for (const name of ["To", "From", "DateSent", "DateSent<", "DateSent>"]) {
            const value = query[name];
            if (value !== undefined) params.set(name, value);
          }
          params.set("PageSize", String(pageSize));
          params.set("Page", String(at));
          return `${accountPath}/Messages.json?${params}`;
        };
        return {
          messages: pageMessages.map(view),
          page,
          page_size: pageSize,
          start: page * pageSize,
          end: page * pageSize + Math.max(pageMessages.length - 1, 0),
          uri: listUri(page),
          first_page_uri: listUri(0),
          next_page_uri: (page + 1) * pageSize < matches.length ? listUri(page + 1) : null,
          previous_page_uri: page > 0 ? listUri(page - 1) : null,
        };
      });

      app.get("/2010-04-01/Accounts/:accountSid/Messages/:sid.json", async (request) => {
        const message = messages.get((request.params as { sid: string }).sid);
        if (!message) {
          throw new TwilioError(
            404,
            20404,
            `The requested resource ${new URL(request.url, "http://x").pathname} was not found`,
          );
        }
        return view(message);
      });
    },

    state: () => ({
      accountSid,
      sent: messages.size,
      messages: [...messages.values()].map((message) => ({
        ...view(message),
        history: message.history,
        callbacks: message.callbacks,
      })),
    }),
    counts: () => ({ messages: messages.size }),
    credentials: () => ({ username: accountSid, password: authToken }),
    identifiers: () => ({ accountSid }),
    revokeCredentials: () => {
      revoked = true;
    },
    restoreCredentials: () => {
      revoked = false;
    },
  };
}

/**
 * Twilio's request signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security): base64
 * HMAC-SHA1, keyed by the auth token, of the full URL followed by each POST parameter's name and value,
 * names sorted.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((signed, name) => signed + name + params[name], url);
  return createHmac("sha1", authToken).update(data, "utf8").digest("base64");
}

/** Twilio's error body: `{ code, message, more_info, status }`. */
function answerError(error: Error & { statusCode?: number }, request: SandboxRequest, reply: SandboxReply) {
  if (error instanceof TwilioError) {
    if (error.status === 401) reply.header("www-authenticate", 'Basic realm="Twilio API"');
    return reply.code(error.status).send({
      code: error.code,
      message: error.message,
      more_info: `https://www.twilio.com/docs/errors/${error.code}`,
      status: error.status,
    });
  }
  const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
  return reply.code(status).send({ code: null, message: error.message, more_info: null, status, path: request.url });
}

/** The Message resource exactly as Twilio's JSON shows it (dates in RFC 2822, numbers of segments as strings). */
function resourceView(message: SmsMessage, accountSid: string, accountPath: string) {
  const uri = `${accountPath}/Messages/${message.sid}`;
  return {
    account_sid: accountSid,
    api_version: apiVersion,
    body: message.body,
    date_created: rfc2822(message.createdAt),
    date_sent: message.sentAt === null ? null : rfc2822(message.sentAt),
    date_updated: rfc2822(message.updatedAt),
    direction: "outbound-api",
    error_code: null,
    error_message: null,
    from: message.from,
    messaging_service_sid: message.messagingServiceSid,
    num_media: "0",
    num_segments: String(message.numSegments),
    price: message.sentAt === null ? null : (-0.0079 * message.numSegments).toFixed(5),
    price_unit: "USD",
    sid: message.sid,
    status: message.status,
    subresource_uris: { media: `${uri}/Media.json`, feedback: `${uri}/Feedback.json` },
    to: message.to,
    uri: `${uri}.json`,
  };
}

/** Twilio's list filters: To, From, and DateSent (a day), `DateSent<` (on or before) and `DateSent>` (on or after). */
function matchesList(query: Record<string, string | undefined>): (message: SmsMessage) => boolean {
  const on = dayRange(query.DateSent);
  const before = dayRange(query["DateSent<"]);
  const after = dayRange(query["DateSent>"]);
  return (message) => {
    if (query.To && message.to !== query.To) return false;
    if (query.From && message.from !== query.From) return false;
    if (!on && !before && !after) return true;
    const sent = message.sentAt;
    if (sent === null) return false;
    if (on && (sent < on.start || sent >= on.end)) return false;
    if (before && sent >= before.end) return false;
    if (after && sent < after.start) return false;
    return true;
  };
}

/** `2024-05-01` is that UTC day; a full timestamp is that instant. */
function dayRange(value: string | undefined): { start: number; end: number } | undefined {
  if (!value) return undefined;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const start = Date.parse(dateOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(start)) throw new TwilioError(400, 20001, `Invalid date: ${value}`);
  return { start, end: dateOnly ? start + 86_400_000 : start + 1 };
}

/** GSM-7 text fits 160 characters (153 per part when split); anything else is UCS-2: 70 (67 per part). */
function countSegments(body: string): number {
  const gsm = /^[\x20-\x7E\n\r£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà€]*$/.test(body);
  const [single, part] = gsm ? [160, 153] : [70, 67];
  const length = [...body].length;
  return length <= single ? 1 : Math.ceil(length / part);
}

function rfc2822(epochMs: number): string {
  return new Date(epochMs).toUTCString().replace("GMT", "+0000");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
