import type { FastifyInstance } from "fastify";
import type { Connections } from "../connections/connections.ts";
import { buildHealthReport } from "../observability/health-report.ts";
import type { RejectionsReader } from "../observability/recent-rejections.ts";
import type { Integration } from "../sdk/define-integration.ts";
import type { Storage } from "../storage/contract.ts";

export interface HealthApiRouteOptions {
  storage: Storage;
  now: () => number;
  integrations: readonly Pick<Integration, "id" | "trigger">[];
  polls: readonly { id: string; everyMs: number }[];
  webhookSources: readonly string[];
  connections?: Connections;
  rejections: RejectionsReader;
}

/**
 * `GET /api/health`: the state of every integration, connection, webhook source, poll and schedule, each with a
 * green/amber/red verdict and its reason (see health-report.ts). Not a probe: `/healthz` and `/readyz` are those.
 */
export function registerHealthApiRoute(app: FastifyInstance, options: HealthApiRouteOptions): void {
  const schedules = options.integrations.flatMap((integration) =>
    "cron" in integration.trigger
      ? [
          {
            integrationId: integration.id,
            cron: integration.trigger.cron,
            ...(integration.trigger.timezone ? { timezone: integration.trigger.timezone } : {}),
          },
        ]
      : [],
  );
  app.get("/api/health", async () =>
    buildHealthReport({
      storage: options.storage,
      integrationIds: options.integrations.map((integration) => integration.id),
      schedules,
      polls: options.polls,
      webhookSources: options.webhookSources,
      ...(options.connections ? { connections: options.connections } : {}),
      rejections: options.rejections,
      now: options.now(),
    }),
  );
}
