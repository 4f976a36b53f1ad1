import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { SandboxContext, SandboxReply, SandboxSystem } from "../sandbox-system.ts";
import { appendKept } from "./record-limits.ts";
import { invalidBlocksReason } from "./slack-blocks.ts";

/**
 * Slack incoming webhooks (https://api.slack.com/messaging/webhooks): one secret URL per channel,
 * `POST /chat/services/T…/B…/<token>` with a JSON message (`text`, Block Kit `blocks`, `attachments`,
 * `thread_ts`), answered `200 ok` in plain text or with Slack's one-word errors (`invalid_payload`,
 * `invalid_blocks`, `invalid_token`, `no_service`, `channel_is_archived`). Nothing leaves the sandbox:
 * every accepted message is kept (the newest 50,000) for the state and for tests.
 */
export interface ChatOptions {
  /** The channels that have an incoming webhook; default `["#ops"]`. */
  channels?: string[];
}

export interface ChatMessage {
  channel: string;
  /** Slack's message timestamp (`"1733500000.000100"`), unique per message. */
  ts: string;
  text: string | null;
  blocks: unknown[] | null;
  attachments: unknown[] | null;
  threadTs: string | null;
  username: string | null;
  receivedAt: string;
}

export interface ChatSystem extends SandboxSystem {
  /** Every message received (the newest 50,000), oldest first; only one channel's when it is named. */
  messages(channel?: string): readonly ChatMessage[];
  /** A channel's full webhook URL (once the sandbox listens). */
  webhookUrl(channel: string): string;
  /** Archived, a channel's webhook answers `410 channel_is_archived` until it is unarchived. */
  setArchived(channel: string, archived: boolean): void;
}

interface Webhook {
  channel: string;
  serviceId: string;
  token: string;
  archived: boolean;
}

/** Slack's most attachments per message. */
const maxAttachments = 100;

class SlackError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    /** Why, for the sandbox's reader; Slack itself answers only the code. */
    readonly reason: string,
  ) {
    super(code);
  }
}

export function createChat(context: SandboxContext, options: ChatOptions = {}): ChatSystem {
  const teamId = slackId("T");
  const webhooks = new Map<string, Webhook>();
  for (const name of options.channels ?? ["#ops"]) {
    const channel = channelName(name);
    webhooks.set(channel, { channel, serviceId: slackId("B"), token: randomToken(), archived: false });
  }
  let revoked = false;
  const received: ChatMessage[] = [];
  let lastTsMicros = 0;

  const webhook = (channel: string): Webhook => {
    const found = webhooks.get(channelName(channel));
    if (!found) throw new Error(`the chat sandbox has no webhook for ${channel}; it has ${[...webhooks.keys()]}`);
    return found;
  };
  const webhookPath = (hook: Webhook) => `/services/${teamId}/${hook.serviceId}/${hook.token}`;

  const authorize = (params: { team: string; service: string; token: string }): Webhook => {
    const hook = [...webhooks.values()].find((candidate) => candidate.serviceId === params.service);
    if (!hook || params.team !== teamId) throw new SlackError(404, "no_service", "no webhook has this URL");
    if (revoked || params.token !== hook.token) throw new SlackError(403, "invalid_token", "the token is not valid");
    if (hook.archived) throw new SlackError(410, "channel_is_archived", `${hook.channel} is archived`);
    return hook;
  };

  const setArchived = (channel: string, archived: boolean): void => {
    webhook(channel).archived = archived;
  };

  /** Slack's `ts`: seconds and microseconds, strictly increasing so that each names one message. */
  const nextTs = (): string => {
    lastTsMicros = Math.max(context.now() * 1000, lastTsMicros + 1);
    return `${Math.floor(lastTsMicros / 1_000_000)}.${String(lastTsMicros % 1_000_000).padStart(6, "0")}`;
  };

  const post = (hook: Webhook, body: unknown): ChatMessage => {
    const fields = parsePayload(body);
    const text = typeof fields.text === "string" && fields.text.length > 0 ? fields.text : null;
    const attachments = fields.attachments;
    if (attachments !== undefined && !Array.isArray(attachments)) {
      throw new SlackError(400, "invalid_payload", "attachments must be an array");
    }
    if (attachments && attachments.length > maxAttachments) {
      throw new SlackError(400, "too_many_attachments", `a message carries at most ${maxAttachments} attachments`);
    }
    const hasBlocks = fields.blocks !== undefined && !(Array.isArray(fields.blocks) && fields.blocks.length === 0);
    if (!text && !hasBlocks && !attachments?.length) {
      throw new SlackError(400, "invalid_payload", "a message needs text or blocks");
    }
    const blockReason =
      (hasBlocks ? invalidBlocksReason(fields.blocks) : undefined) ?? invalidAttachmentBlocksReason(attachments);
    if (blockReason) throw new SlackError(400, "invalid_blocks", blockReason);
    const message: ChatMessage = {
      channel: hook.channel,
      ts: nextTs(),
      text,
      blocks: hasBlocks ? (fields.blocks as unknown[]) : null,
      attachments: attachments ?? null,
      threadTs: typeof fields.thread_ts === "string" ? fields.thread_ts : null,
      username: typeof fields.username === "string" ? fields.username : null,
      receivedAt: new Date(context.now()).toISOString(),
    };
    appendKept(received, message);
    return message;
  };

  return {
    name: "chat",
    messages: (channel) =>
      channel === undefined ? received : received.filter((message) => message.channel === channelName(channel)),
    webhookUrl: (channel) => `${context.baseUrl()}${webhookPath(webhook(channel))}`,
    setArchived,

    registerRoutes(app: FastifyInstance) {
      app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => answerError(error, reply));
      app.setNotFoundHandler((_request, reply) => answerError(new SlackError(404, "no_service", "no such URL"), reply));
      app.post("/services/:team/:service/:token", async (request, reply) => {
        const hook = authorize(request.params as { team: string; service: string; token: string });
        post(hook, request.body);
        return reply.code(200).type("text/plain; charset=utf-8").send("ok");
      });
    },

    registerControlRoutes(app: FastifyInstance) {
      for (const [action, archived] of [
        ["archive", true],
        ["unarchive", false],
      ] as const) {
        app.post(`/channels/:channel/${action}`, async (request, reply) => {
          const channel = channelName((request.params as { channel: string }).channel);
          if (!webhooks.has(channel)) {
            return reply.code(404).send({ error: "not_found", message: `no webhook for ${channel}` });
          }
          setArchived(channel, archived);
          return { channel, archived };
        });
      }
    },

    state: () => ({
      channels: [...webhooks.values()].map((hook) => ({
        channel: hook.channel,
        archived: hook.archived,
        messages: received.filter((message) => message.channel === hook.channel).length,
      })),
      received: received.length,
      messages: received,
    }),
    counts: () => ({ messages: received.length }),
    credentials: () =>
      Object.fromEntries(
        [...webhooks.values()].map((hook) => [
          `${camelCase(hook.channel)}WebhookUrl`,
          `${context.baseUrl()}${webhookPath(hook)}`,
        ]),
      ),
    revokeCredentials: () => {
      revoked = true;
    },
    restoreCredentials: () => {
      revoked = false;
    },
  };
}

/**
 * A webhook takes JSON, or a form with the JSON in `payload` (Slack's older form); whatever else
 * arrives (a body Slack cannot read as a message) is `invalid_payload`.
 */
function parsePayload(body: unknown): Record<string, unknown> {
  let value = body;
  if (isRecord(value) && typeof value.payload === "string") value = value.payload;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw new SlackError(400, "invalid_payload", "the body is not JSON");
    }
  }
  if (!isRecord(value)) throw new SlackError(400, "invalid_payload", "the body is not a JSON object");
  return value;
}

function invalidAttachmentBlocksReason(attachments: unknown[] | undefined): string | undefined {
  for (const [index, attachment] of (attachments ?? []).entries()) {
    if (!isRecord(attachment) || attachment.blocks === undefined) continue;
    const reason = invalidBlocksReason(attachment.blocks);
    if (reason) return `attachments[${index}].${reason}`;
  }
  return undefined;
}

/** Slack answers errors as one word in plain text; an unreadable JSON body is `invalid_payload`. */
function answerError(error: Error & { statusCode?: number }, reply: SandboxReply) {
  const known =
    error instanceof SlackError
      ? error
      : error.statusCode === 400
        ? new SlackError(400, "invalid_payload", error.message)
        : new SlackError(500, "internal_error", error.message);
  // Only printable ASCII may go in a header; a reason quotes what the sender wrote, which may be anything.
  const reason = known.reason.replace(/[^\x20-\x7e]/g, "?");
  return reply.code(known.status).header("x-sandbox-reason", reason).type("text/plain; charset=utf-8").send(known.code);
}

function channelName(name: string): string {
  return name.startsWith("#") ? name : `#${name}`;
}

/** `#ops` → `ops`, `#eng-alerts` → `engAlerts`: the credential's name, and so `CHAT_ENG_ALERTS_WEBHOOK_PATH`. */
function camelCase(channel: string): string {
  return channel
    .replace(/^#/, "")
    .replace(/[^A-Za-z0-9]+([A-Za-z0-9])/g, (_match, next: string) => next.toUpperCase())
    .replace(/[^A-Za-z0-9]/g, "");
}

/** Slack's workspace and webhook ids: a letter and 10 upper-case letters or digits. */
function slackId(prefix: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  return prefix + [...randomBytes(10)].map((byte) => alphabet[byte % alphabet.length]).join("");
}

/** A webhook URL's secret part: 24 letters and digits. */
function randomToken(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(24)].map((byte) => alphabet[byte % alphabet.length]).join("");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
