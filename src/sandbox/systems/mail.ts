import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type AddressObject, simpleParser } from "mailparser";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import type { FaultDecision } from "../faults.ts";
import type { SandboxContext, SandboxListener, SandboxSystem } from "../sandbox-system.ts";
import { appendKept } from "./record-limits.ts";

/**
 * A mail server: SMTP (RFC 5321) on a TCP port of its own, with AUTH PLAIN and LOGIN in the clear (no
 * STARTTLS: it only listens where the sandbox does), a message size limit, and the sandbox's faults as SMTP
 * answers them: an outage refuses the connection and MAIL FROM with `421`, an injected error fails DATA with
 * `451` (temporary) or `554` (permanent). Every accepted message is parsed (mailparser) and kept, headers
 * and all (the newest 50,000); nothing is relayed anywhere.
 */
export interface MailOptions {
  /** The SMTP port; 0 (the default) picks a free one when the sandbox listens. */
  port?: number;
  /** The AUTH user name; default `sandbox`. */
  username?: string;
  /** The AUTH password; random by default. */
  password?: string;
  /** The largest message accepted, in bytes (announced as `SIZE`; larger ones get `552`). Default 10 MiB. */
  maxMessageBytes?: number;
}

export interface ReceivedMail {
  /** The SMTP envelope: MAIL FROM and every RCPT TO. */
  envelope: { from: string; to: string[] };
  /** The `From` header as written (`"Tenon" <alerts@example.com>`). */
  from: string;
  /** The addresses of the `To` and `Cc` headers. */
  to: string[];
  cc: string[];
  subject: string;
  /** The `Date` header, ISO 8601; null without one. */
  date: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  text: string | null;
  html: string | null;
  /** Every header by lower-case name, unfolded; a header that appears more than once is a list. */
  headers: Record<string, string | string[]>;
  /** The user the client authenticated as. */
  user: string;
  size: number;
  receivedAt: string;
}

export interface MailSystem extends SandboxSystem {
  /** Every message received (the newest 50,000), oldest first. */
  messages(): readonly ReceivedMail[];
  /** Where the SMTP server listens, once the sandbox does. */
  smtpAddress(): { host: string; port: number };
}

const defaultMaxMessageBytes = 10 * 1024 * 1024;

export function createMail(context: SandboxContext, options: MailOptions = {}): MailSystem {
  const username = options.username ?? "sandbox";
  const password = options.password ?? randomBytes(16).toString("hex");
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes;
  let revoked = false;
  let address: { host: string; port: number } | undefined;
  const received: ReceivedMail[] = [];
  /** Each transaction's fault, decided at MAIL FROM (one per message, as one per HTTP request) and applied at DATA. */
  const decisions = new Map<string, FaultDecision>();

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authMethods: ["PLAIN", "LOGIN"],
    size: maxMessageBytes,
    banner: "Tenon sandbox mail",
    disableReverseLookup: true,
    logger: false,
    // Closing the sandbox should not wait 30 s for a client that keeps its connection open.
    closeTimeout: 1_000,

    onConnect(_session, callback) {
      const decision = context.decideFault({ outageOnly: true });
      callback(decision.kind === "outage" ? outage(decision.until) : null);
    },

    onAuth(auth, _session, callback) {
      const valid = !revoked && auth.username === username && auth.password === password;
      if (!valid) return callback(smtpError(535, "Authentication credentials invalid"));
      callback(null, { user: username });
    },

    onMailFrom(_address, session, callback) {
      const decision = context.decideFault();
      if (decision.kind === "outage") return callback(outage(decision.until));
      if (decision.kind === "rate_limited") {
        return callback(smtpError(451, `Too much mail, try again in ${decision.retryAfterSeconds} s (sandbox fault)`));
      }
      decisions.set(session.id, decision);
      callback();
    },

    onData(stream, session, callback) {
      const decision = decisions.get(session.id) ?? { kind: "none" };
      decisions.delete(session.id);
      readMessage(stream)
        .then(async (raw) => {
          if (stream.sizeExceeded) return callback(smtpError(552, `Message exceeds ${maxMessageBytes} bytes`));
          const at = context.now();
          const mail = await parseMail(raw, session, at);
          context.captureRequest({ at, method: "DATA", path: "/", query: {}, headers: headerLines(mail), body: raw });
          if (decision.kind === "error_before") return callback(dataError(decision.status));
          appendKept(received, mail);
          if (decision.kind === "error_after") return callback(dataError(decision.status));
          callback(null, `Message queued as ${randomBytes(6).toString("hex").toUpperCase()}`);
        })
        .catch((error: Error) => callback(smtpError(451, `Could not read the message: ${error.message}`)));
    },

    onClose(session) {
      decisions.delete(session.id);
    },
  });
  // A client that drops its connection is the client's business; the server goes on serving the others.
  server.on("error", () => {});

  const listener: SandboxListener = {
    listen: (host) =>
      new Promise((resolve, reject) => {
        const netServer = server.listen(options.port ?? 0, host, () => {
          netServer.off("error", reject);
          address = { host: loopbackFor(host), port: (netServer.address() as AddressInfo).port };
          resolve();
        });
        netServer.once("error", reject);
      }),
    url: () =>
      address ? `smtp://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}` : undefined,
    close: () =>
      new Promise((resolve) => {
        if (address === undefined) return resolve();
        address = undefined;
        server.close(() => resolve());
      }),
  };

  const smtpAddress = () => {
    if (address === undefined) throw new Error("the sandbox is not listening yet (the mail server starts with it)");
    return address;
  };

  return {
    name: "mail",
    listeners: [listener],
    messages: () => received,
    smtpAddress,

    registerRoutes() {
      // SMTP only: the mail server has no HTTP API; its state is at GET /_sandbox/mail/state.
    },

    state: () => ({ smtp: address ?? null, maxMessageBytes, received: received.length, messages: received }),
    counts: () => ({ messages: received.length }),
    credentials: () => {
      const { host, port } = smtpAddress();
      return { smtpHost: host, smtpPort: String(port), username, password };
    },
    revokeCredentials: () => {
      revoked = true;
    },
    restoreCredentials: () => {
      revoked = false;
    },
  };
}

function smtpError(responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode });
}

function outage(until: number): Error {
  return smtpError(
    421,
    `Service not available, closing transmission channel (sandbox outage until ${new Date(until).toISOString()})`,
  );
}

/** An injected 500 is a permanent failure (554), a 502 or 503 a temporary one (451): a sender retries only those. */
function dataError(status: number): Error {
  return status === 500
    ? smtpError(554, "Transaction failed (sandbox fault)")
    : smtpError(451, "Requested action aborted: local error in processing (sandbox fault)");
}

async function readMessage(stream: SMTPServerDataStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function parseMail(raw: string, session: SMTPServerSession, at: number): Promise<ReceivedMail> {
  const parsed = await simpleParser(raw);
  const { mailFrom, rcptTo } = session.envelope;
  return {
    envelope: { from: mailFrom ? mailFrom.address : "", to: rcptTo.map((recipient) => recipient.address) },
    from: parsed.from?.text ?? "",
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    subject: parsed.subject ?? "",
    date: parsed.date ? parsed.date.toISOString() : null,
    messageId: parsed.messageId ?? null,
    inReplyTo: parsed.inReplyTo ?? null,
    references: parsed.references === undefined ? [] : [parsed.references].flat(),
    text: parsed.text ?? null,
    html: parsed.html || null,
    headers: headersOf(parsed.headerLines),
    user: String(session.user ?? ""),
    size: Buffer.byteLength(raw),
    receivedAt: new Date(at).toISOString(),
  };
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  return [field ?? []]
    .flat()
    .flatMap((object) => object.value)
    .map((entry) => entry.address ?? "")
    .filter((entry) => entry.length > 0);
}

/** `Subject: a\r\n b` → `{ subject: "a b" }`; repeated headers (Received) become lists. */
function headersOf(lines: readonly { key: string; line: string }[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const { key, line } of lines) {
    const value = line
      .slice(line.indexOf(":") + 1)
      .replace(/\r?\n[ \t]+/g, " ")
      .trim();
    const seen = headers[key];
    headers[key] = seen === undefined ? value : [seen, value].flat();
  }
  return headers;
}

/** The captured request's headers: one string per name, as the HTTP systems' are. */
function headerLines(mail: ReceivedMail): Record<string, string> {
  return Object.fromEntries(
    Object.entries(mail.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(", ") : value]),
  );
}

/** A server listening on every interface is reached on the loopback. */
function loopbackFor(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}
