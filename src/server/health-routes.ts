import type { FastifyInstance } from "fastify";
import type { Storage } from "../storage/contract.ts";
import { sendError } from "./http-errors.ts";

/**
 * Probes for orchestrators and load balancers. `/healthz` (and the older `/health`): the process answers, so it
 * is alive; never touches storage, so a database outage does not get healthy processes restarted. `/readyz`: this
 * process can do its work now (storage answers, schema up to date); 503 with the reason otherwise.
 */
export function registerHealthRoutes(app: FastifyInstance, storage: Storage): void {
  const alive = async () => ({ status: "ok" });
  app.get("/health", alive);
  app.get("/healthz", alive);
  app.get("/readyz", async (_request, reply) => {
    try {
      await storage.checkReady();
    } catch (error) {
      return sendError(reply, 503, "not_ready", (error as Error).message);
    }
    return { status: "ready", storage: storage.dialect };
  });
}
