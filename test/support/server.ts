import type { Engine } from "../../src/engine/engine.ts";
import { resolveWebhookSources, type WebhookSourceConfig } from "../../src/ingestion/webhooks/webhook-sources.ts";
import { createServer, type ServerOptions, type TenonServer } from "../../src/server/create-server.ts";
import { silentLogger } from "./engine.ts";
import { secrets } from "./signed-webhooks.ts";

/** Every built-in provider, each under its own name, with the secrets of signed-webhooks.ts. */
export const allProviderSources: Record<string, WebhookSourceConfig> = Object.fromEntries(
  Object.entries(secrets).map(([provider, secret]) => [
    provider,
    { provider, secrets: [secret] } as WebhookSourceConfig,
  ]),
);

export interface RunningServer {
  server: TenonServer;
  url: string;
  post(path: string, request: { headers: Record<string, string>; body: string | Buffer }): Promise<TestResponse>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
  json: any;
  text: string;
}

/** A real server on a free loopback port, for the engine given; closed by the caller. */
export async function startTestServer(
  engine: Engine,
  options: Partial<Omit<ServerOptions, "engine" | "webhookSources">> & {
    sources?: Record<string, WebhookSourceConfig>;
  } = {},
): Promise<RunningServer> {
  const { sources = allProviderSources, ...rest } = options;
  const server = createServer({
    engine,
    logger: silentLogger,
    webhookSources: resolveWebhookSources(sources),
    ...rest,
  });
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  return {
    server,
    url,
    async post(path, request) {
      const response = await fetch(`${url}${path}`, { method: "POST", headers: request.headers, body: request.body });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, json, text };
    },
  };
}
