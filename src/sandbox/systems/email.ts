import { randomUUID } from "node:crypto";
import type { FastifyError, FastifyInstance } from "fastify";
import type { SandboxContext, SandboxReply, SandboxRequest, SandboxSystem } from "../sandbox-system.ts";
import { appendKept } from "./record-limits.ts";

/**
 * A Postmark-like email API (https://postmarkapp.com/developer): `POST /email` with the server token in
 * `X-Postmark-Server-Token` and a PascalCase JSON message, and the Messages API to search what was sent
 * (`GET /messages/outbound`, filterable by recipient, tag, message stream and one `metadata_<key>`).
 * Every accepted message is "Sent" at once; nothing leaves the sandbox. It keeps the newest 50,000
 * messages (`maxKeptRecords`) and drops older ones, so hours of demo traffic stay in bounded memory.
 */
export interface EmailOptions {
  /** The server token (Postmark's are UUIDs); random by default. */
  serverToken?: string;
}

export interface EmailAddress {
  Email: string;
  Name: string;
}

/** A message as Postmark's Messages API shows it, plus its bodies. */
export interface SentEmail {
  MessageID: string;
  From: string;
  To: EmailAddress[];
  Cc: EmailAddress[];
  Bcc: EmailAddress[];
  Recipients: string[];
  Subject: string;
  TextBody: string | null;
  HtmlBody: string | null;
  Tag: string;
  Metadata: Record<string, string>;
  MessageStream: string;
  ReceivedAt: string;
  Status: "Sent";
}

export interface EmailSystem extends SandboxSystem {
  /** Every message sent (the newest 50,000), oldest first. */
  messages(): readonly SentEmail[];
}

/** Postmark's 401 answers (ErrorCode 10), for a missing and for a wrong server token. */
const missingToken =
  "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token.";
const invalidToken =
  "The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token.";
const jsonRequired = "Your HTTP request does not have the Accept and Content-Type headers set to 'application/json'.";

/** The server's message streams; "outbound" is the default transactional stream every server has. */
const defaultStream = "outbound";
const messageStreams = new Set([defaultStream, "broadcast"]);
const maxRecipients = 50;
// Postmark's documented metadata limits (custom metadata FAQ).
const metadataLimits = { fields: 10, keyLength: 20, valueLength: 80 };
const emailPattern = /^[^\s@<>"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

class PostmarkError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function createEmail(context: SandboxContext, options: EmailOptions = {}): EmailSystem {
  const serverToken = options.serverToken ?? randomUUID();
  let revoked = false;
  const sent: SentEmail[] = [];
  const byId = new Map<string, SentEmail>();

  const authorize = (request: SandboxRequest): void => {
    const given = request.headers["x-postmark-server-token"];
    if (typeof given !== "string" || given.length === 0) throw new PostmarkError(401, 10, missingToken);
    if (revoked || given !== serverToken) throw new PostmarkError(401, 10, invalidToken);
    if (!acceptsJson(request.headers.accept)) throw new PostmarkError(422, 409, jsonRequired);
  };

  const send = (body: unknown): SentEmail => {
    const message = parseMessage(body, new Date(context.now()).toISOString());
    byId.set(message.MessageID, message);
    appendKept(sent, message, (dropped) => byId.delete(dropped.MessageID));
    return message;
  };

  return {
    name: "email",
    messages: () => sent,

    registerRoutes(app: FastifyInstance) {
      app.setErrorHandler((error: FastifyError, _request, reply) => answerError(error, reply));
      app.addHook("preHandler", async (request) => authorize(request));

      app.post("/email", async (request) => {
        if (!isJsonRequest(request)) throw new PostmarkError(422, 409, jsonRequired);
        const message = send(request.body);
        return {
          To: message.To.map(formatAddress).join(", "),
          SubmittedAt: message.ReceivedAt,
          MessageID: message.MessageID,
          ErrorCode: 0,
          Message: "OK",
        };
      });

      app.get("/messages/outbound", async (request) => {
        const query = request.query as Record<string, string | undefined>;
        const count = Number(query.count);
        const offset = Number(query.offset);
        if (!Number.isInteger(count) || count < 1 || count > 500) {
          throw new PostmarkError(422, 300, "The 'count' parameter is required and must be between 1 and 500.");
        }
        if (!Number.isInteger(offset) || offset < 0 || count + offset > 10_000) {
          throw new PostmarkError(422, 300, "The 'offset' parameter is required; count + offset cannot exceed 10,000.");
        }
        const matches = sent.filter(matchesSearch(query)).reverse();
        return { TotalCount: matches.length, Messages: matches.slice(offset, offset + count).map(searchView) };
      });

      app.get("/messages/outbound/:id/details", async (request) => {
        const message = byId.get((request.params as { id: string }).id);
        if (!message) throw new PostmarkError(422, 701, "This message was not found.");
        return {
          ...searchView(message),
          TextBody: message.TextBody ?? "",
          HtmlBody: message.HtmlBody ?? "",
          Body: message.HtmlBody ?? message.TextBody ?? "",
          MessageEvents: message.Recipients.map((recipient) => ({
            Recipient: recipient,
            Type: "Delivered",
            ReceivedAt: message.ReceivedAt,
            Details: { DeliveryMessage: "Message delivered to the sandbox (nothing left it).", DestinationServer: "" },
          })),
        };
      });
    },

    state: () => ({ sent: sent.length, messages: sent }),
    counts: () => ({ messages: sent.length }),
    credentials: () => ({ apiKey: serverToken }),
    revokeCredentials: () => {
      revoked = true;
    },
    restoreCredentials: () => {
      revoked = false;
    },
  };
}

/** Postmark answers every failure as `{ ErrorCode, Message }`; a body that is not JSON is its ErrorCode 402. */
function answerError(error: FastifyError | PostmarkError, reply: SandboxReply) {
  if (error instanceof PostmarkError) {
    return reply.code(error.status).send({ ErrorCode: error.errorCode, Message: error.message });
  }
  if (error.statusCode === 400)
    return reply.code(422).send({ ErrorCode: 402, Message: "Received invalid JSON input." });
  return reply.code(500).send({ ErrorCode: 500, Message: error.message });
}

function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(",").some((part) => /^\s*(application\/json|application\/\*|\*\/\*)\s*(;|$)/i.test(part));
}

function isJsonRequest(request: SandboxRequest): boolean {
  return /^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "");
}

/** Validates a send request the way Postmark does (ErrorCode 300 for a bad message, 403 for fields of the wrong type). */
function parseMessage(body: unknown, receivedAt: string): SentEmail {
  if (body === undefined) throw new PostmarkError(422, 402, "Received invalid JSON input.");
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new PostmarkError(422, 403, "Incompatible JSON: the message must be a JSON object.");
  }
  const fields = body as Record<string, unknown>;
  const text = (name: string): string | undefined => {
    const value = fields[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw new PostmarkError(422, 403, `Incompatible JSON: '${name}' must be a string.`);
    return value;
  };
  const from = text("From") ?? "";
  const fromAddress = parseAddressList(from, "From");
  if (fromAddress.length !== 1) throw new PostmarkError(422, 300, `Invalid 'From' address: '${from}'.`);
  const to = parseAddressList(text("To") ?? "", "To");
  const cc = parseAddressList(text("Cc") ?? "", "Cc");
  const bcc = parseAddressList(text("Bcc") ?? "", "Bcc");
  const recipients = [...to, ...cc, ...bcc];
  if (recipients.length === 0) throw new PostmarkError(422, 300, "Zero recipients specified");
  if (recipients.length > maxRecipients) {
    throw new PostmarkError(422, 300, `Maximum of ${maxRecipients} recipients allowed per email message`);
  }
  const textBody = text("TextBody");
  const htmlBody = text("HtmlBody");
  if (!textBody && !htmlBody) throw new PostmarkError(422, 300, "Provide either email TextBody or HtmlBody or both.");
  const stream = text("MessageStream") ?? defaultStream;
  if (!messageStreams.has(stream)) {
    throw new PostmarkError(422, 1235, `The message stream for the provided 'ID' (${stream}) was not found.`);
  }
  return {
    MessageID: randomUUID(),
    From: from,
    To: to,
    Cc: cc,
    Bcc: bcc,
    Recipients: recipients.map((address) => address.Email),
    Subject: text("Subject") ?? "",
    TextBody: textBody ?? null,
    HtmlBody: htmlBody ?? null,
    Tag: text("Tag") ?? "",
    Metadata: parseMetadata(fields.Metadata),
    MessageStream: stream,
    ReceivedAt: receivedAt,
    Status: "Sent",
  };
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new PostmarkError(422, 403, "Incompatible JSON: 'Metadata' must be an object of string values.");
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > metadataLimits.fields) {
    throw new PostmarkError(422, 300, `Metadata can have at most ${metadataLimits.fields} fields.`);
  }
  const seen = new Set<string>();
  for (const [key, field] of entries) {
    if (typeof field !== "string") {
      throw new PostmarkError(422, 403, `Incompatible JSON: Metadata '${key}' must be a string.`);
    }
    if (key.length > metadataLimits.keyLength || field.length > metadataLimits.valueLength) {
      throw new PostmarkError(
        422,
        300,
        `Metadata field names are limited to ${metadataLimits.keyLength} characters and values to ${metadataLimits.valueLength} ('${key}').`,
      );
    }
    if (seen.has(key.toLowerCase())) throw new PostmarkError(422, 300, `Duplicate Metadata key '${key}'.`);
    seen.add(key.toLowerCase());
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** `a@x.com, "Doe, Jane" <jane@y.com>`: commas inside quotes belong to the name. */
function parseAddressList(list: string, field: string): EmailAddress[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of list) {
    if (char === '"') quoted = !quoted;
    if (char === "," && !quoted) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  parts.push(current);
  return parts
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const named = /^(.*)<([^<>]+)>$/.exec(part);
      const email = (named ? named[2] : part)?.trim() ?? "";
      const name = named?.[1]?.trim().replace(/^"(.*)"$/, "$1") ?? "";
      if (!emailPattern.test(email)) throw new PostmarkError(422, 300, `Invalid '${field}' address: '${part}'.`);
      return { Email: email, Name: name };
    });
}

function formatAddress(address: EmailAddress): string {
  return address.Name ? `"${address.Name}" <${address.Email}>` : address.Email;
}

/**
 * Postmark's search filters: recipient (any of To, Cc, Bcc), tag, fromemail, subject, status, messagestream
 * and `metadata_<key>`. Without `messagestream` the search covers only the default transactional stream
 * ("outbound"), so a broadcast is found only when its stream is named. Postmark's official PHP client
 * documents that default for `getOutboundMessages` ("If null, the default 'outbound' transactional stream
 * will be used"); see https://postmarkapp.com/developer/api/messages-api. Not checked against a live server.
 */
function matchesSearch(query: Record<string, string | undefined>): (message: SentEmail) => boolean {
  const metadata = Object.entries(query).filter(([name]) => name.startsWith("metadata_"));
  const stream = query.messagestream || defaultStream;
  return (message) => {
    if (query.recipient && !message.Recipients.some((email) => sameEmail(email, query.recipient as string))) {
      return false;
    }
    if (query.fromemail && !message.From.toLowerCase().includes(query.fromemail.toLowerCase())) return false;
    if (query.tag && message.Tag !== query.tag) return false;
    if (query.subject && !message.Subject.includes(query.subject)) return false;
    if (query.status && query.status.toLowerCase() !== "sent") return false;
    if (message.MessageStream !== stream) return false;
    return metadata.every(([name, value]) => message.Metadata[name.slice("metadata_".length)] === value);
  };
}

function sameEmail(a: string, b: string): boolean {
  return a.toLowerCase() === b.trim().toLowerCase();
}

function searchView(message: SentEmail) {
  return {
    Tag: message.Tag,
    MessageID: message.MessageID,
    MessageStream: message.MessageStream,
    To: message.To,
    Cc: message.Cc,
    Bcc: message.Bcc,
    Recipients: message.Recipients,
    ReceivedAt: message.ReceivedAt,
    From: message.From,
    Subject: message.Subject,
    Attachments: [],
    Status: message.Status,
    TrackOpens: false,
    TrackLinks: "None",
    Metadata: message.Metadata,
    Sandboxed: false,
  };
}
