import nodemailer from "nodemailer";
import { RetryableError } from "../../sdk/errors.ts";
import { type AlertNotification, firstOfEpisode } from "../notification.ts";
import type { AlertChannel } from "./alert-channel.ts";

export interface EmailChannelOptions {
  smtp: { host: string; port: number; secure: boolean; user?: string; password?: string };
  from: string;
  to: string[];
  /** The host part of Message-IDs. */
  messageIdHost: string;
}

/**
 * The email of a notification. Its Message-ID is derived from the notification's id (the same on a retry); the
 * resolved message, and a re-notification, reply to the episode's first message (`In-Reply-To`, `References`),
 * so mail clients thread an alert's messages together.
 */
export function alertEmail(n: AlertNotification, options: Pick<EmailChannelOptions, "from" | "to" | "messageIdHost">) {
  const messageId = (id: string) => `<${id}@${options.messageIdHost}>`;
  const first = messageId(firstOfEpisode(n));
  const subject = `[${n.status === "firing" ? "FIRING" : "RESOLVED"}] ${n.summary}`.slice(0, 200);
  const lines = [
    n.status === "firing" ? `Firing since ${n.startsAt}:` : `Resolved at ${n.endsAt} (firing since ${n.startsAt}):`,
    "",
    n.summary,
    "",
    `Rule: ${n.rule}`,
    `Subject: ${n.subject}`,
    `Severity: ${n.severity}`,
    ...Object.entries(n.labels).map(([key, value]) => `${key}: ${value}`),
    ...(n.link === "" ? [] : ["", `Open: ${n.link}`]),
    "",
    `Tenon alert ${n.fingerprint}, notification ${n.number}`,
  ];
  return {
    from: options.from,
    to: options.to,
    subject,
    text: lines.join("\n"),
    messageId: messageId(n.id),
    ...(n.number === 1 ? {} : { inReplyTo: first, references: [first] }),
  };
}

/** Email over SMTP (nodemailer). A refused or failed send is retried by the delivery run. */
export function emailChannel(options: EmailChannelOptions): AlertChannel {
  const transport = nodemailer.createTransport({
    host: options.smtp.host,
    port: options.smtp.port,
    secure: options.smtp.secure,
    // Without TLS on the port, STARTTLS is used when the server offers it.
    ...(options.smtp.user === undefined
      ? {}
      : { auth: { user: options.smtp.user, pass: options.smtp.password ?? "" } }),
  });
  return {
    async send(notification) {
      try {
        await transport.sendMail(alertEmail(notification, options));
      } catch (error) {
        // nodemailer's messages name the server's answer; no credential is in them.
        throw new RetryableError(`sending the alert email failed: ${(error as Error).message}`);
      }
    },
    close() {
      transport.close();
    },
  };
}
