import type { IncomingMessage, ServerResponse } from "node:http";
import { LoopbackServer } from "./loopback-server.ts";

export interface ReceivedWebhook {
  /** The full URL called (signed-URL schemes such as Twilio's sign it). */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Stands in for Tenon's webhook endpoint (or a customer's callback URL): records every delivery and
 * answers 204, or 500 for the first `failures` deliveries, to make the sender retry.
 */
export class WebhookReceiver extends LoopbackServer {
  readonly received: ReceivedWebhook[] = [];
  failures = 0;

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of request) body += chunk;
    this.received.push({
      url: `${this.origin}${request.url}`,
      headers: request.headers as Record<string, string>,
      body,
    });
    response.statusCode = this.failures-- > 0 ? 500 : 204;
    response.end();
  }
}
