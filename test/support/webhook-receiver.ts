import type { IncomingMessage, ServerResponse } from "node:http";
import { LoopbackServer } from "./loopback-server.ts";

export interface ReceivedWebhook {
  /** The full URL called (signed-URL schemes such as Twilio's sign it). */
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The status the receiver answered. */
  answered: number;
}

/**
 * Stands in for Tenon's webhook endpoint (or a customer's callback URL): records every delivery and
 * answers 204; 500 for the first `failures` deliveries, and 503 while `unavailable`, to make the
 * sender retry.
 */
export class WebhookReceiver extends LoopbackServer {
  readonly received: ReceivedWebhook[] = [];
  failures = 0;
  unavailable = false;

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of request) body += chunk;
    const answered = this.unavailable ? 503 : this.failures-- > 0 ? 500 : 204;
    this.received.push({
      url: `${this.origin}${request.url}`,
      headers: request.headers as Record<string, string>,
      body,
      answered,
    });
    response.statusCode = answered;
    response.end();
  }
}
