import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { LoopbackServer } from "./loopback-server.ts";

export interface RecordedRequest {
  /** Date.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as they are. */
  body?: unknown;
  /** Wait this long before answering (timeouts). */
  delayMs?: number;
}

export type Responder = (request: RecordedRequest) => Answer | Promise<Answer>;

/**
 * A stand-in for a third-party API: records every request (with its arrival time) and answers with
 * `respond`, or with the queued one-off answers first. Tests change `respond` to make it fail and heal.
 */
export class ApiTestServer extends LoopbackServer {
  readonly requests: RecordedRequest[] = [];
  respond: Responder = (request) => ({ status: 200, body: { ok: true, method: request.method, path: request.path } });
  readonly #queued: Answer[] = [];

  /** The next requests get these answers, in order, before `respond` takes over again. */
  queue(...answers: Answer[]): void {
    this.#queued.push(...answers);
  }

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const recorded: RecordedRequest = {
      at: Date.now(),
      method: request.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    this.requests.push(recorded);
    const answer = this.#queued.shift() ?? (await this.respond(recorded));
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    const json = typeof answer.body !== "string" && answer.body !== undefined;
    response.writeHead(answer.status, {
      ...(json ? { "content-type": "application/json" } : {}),
      ...answer.headers,
    });
    response.end(json ? JSON.stringify(answer.body) : ((answer.body as string | undefined) ?? ""));
  }
}
