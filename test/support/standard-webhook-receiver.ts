import type { IncomingMessage, ServerResponse } from "node:http";
import { Webhook } from "standardwebhooks";
import { LoopbackServer } from "./loopback-server.ts";

export interface ReceivedDelivery {
  headers: Record<string, string>;
  body: string;
  /** The status the receiver answered. */
  answered: number;
}

/**
 * A subscriber's endpoint on loopback: keeps every delivery (those it refused too) and answers 204, or 500 while
 * `down`. `verified` checks what it accepted with the official Standard Webhooks library, as a receiver would.
 */
export class StandardWebhookReceiver extends LoopbackServer {
  readonly deliveries: ReceivedDelivery[] = [];
  down = false;
  readonly path: string;

  constructor(path = "/tenon/events") {
    super();
    this.path = path;
  }

  get url(): string {
    return `${this.origin}${this.path}`;
  }

  get accepted(): ReceivedDelivery[] {
    return this.deliveries.filter((delivery) => delivery.answered < 300);
  }

  get refused(): ReceivedDelivery[] {
    return this.deliveries.filter((delivery) => delivery.answered >= 300);
  }

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of request) body += chunk;
    const answered = this.down ? 500 : 204;
    this.deliveries.push({ headers: request.headers as Record<string, string>, body, answered });
    response.statusCode = answered;
    response.end(this.down ? "down for maintenance" : undefined);
  }

  /** The accepted deliveries, each verified with `secret` (throws if one does not verify), as the receiver reads them. */
  verified(secret: string): { id: string; body: { type: string; timestamp: string; data: Record<string, unknown> } }[] {
    const webhook = new Webhook(secret);
    return this.accepted.map(({ headers, body }) => ({
      id: headers["webhook-id"] as string,
      body: webhook.verify(body, headers) as { type: string; timestamp: string; data: Record<string, unknown> },
    }));
  }
}
