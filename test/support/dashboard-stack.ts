import { createHmac, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { startTenonServices, type TenonServices } from "../../src/app/tenon-services.ts";
import type { TenonConfig } from "../../src/config/define-config.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { hubspot } from "../../src/connectors/hubspot/index.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import type { createStore } from "../../src/sandbox/systems/store.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Reconciliation } from "../../src/sdk/define-reconciliation.ts";
import type { RunRecord, RunStatus } from "../../src/storage/contract.ts";
import type { Backend } from "./backends.ts";
import { testVault } from "./connections.ts";
import { silentLogger } from "./engine.ts";
import { waitFor } from "./wait.ts";

const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));

export type PlacedOrder = ReturnType<ReturnType<typeof createStore>["placeOrder"]>;

export interface LargeOrder {
  email: string;
  order: number;
  amount: number;
}

/**
 * Where the deal-won integration files a large order's deal. Its first value is a bug as a deploy could bring
 * one: HubSpot's stage is `closedwon`, so the CRM refuses the deal with a 400 that lists the allowed stages.
 * A test "deploys the fix" by setting `won` right, then replays the failed run.
 */
export const dealStage = { won: "closed-won" };

/** A large order becomes a CRM contact and a deal: the run the dashboard tests see fail, get fixed and replayed. */
export const largeOrderDeal = defineIntegration<LargeOrder>({
  id: "large-order-deal",
  trigger: { event: "order.large" },
  retries: { maxAttempts: 3, initialDelay: "50ms", maxDelay: "100ms" },
  entities: (event) => ({ order: event.payload.order, email: event.payload.email }),
  async run({ event, step, connection }) {
    const crm = hubspot.client(connection("crm"));
    const { email, order, amount } = event.payload;
    const contact = await step.run("upsert-contact", () => crm.upsertContact({ email }));
    await step.run("create-deal", () =>
      crm.createDeal({
        dealname: `Order ${order}`,
        amount,
        dealstage: dealStage.won,
        contactId: contact.id,
        reference: `order-${order}`,
      }),
    );
  },
});

export interface DashboardStack {
  /** Tenon's address: the dashboard at `/`, the API under `/api/`. */
  url: string;
  sandbox: Sandbox;
  services: TenonServices;
  /** API tokens by role, named `ops` (operator) and `wall` (viewer). */
  tokens: { operator: string; viewer: string };
  /** Customers order in the sandbox store; each order's webhook reaches Tenon and starts order-to-cash. */
  placeOrders(count: number): PlacedOrder[];
  sendLargeOrder(order: LargeOrder): Promise<string>;
  /** A webhook the store signed correctly but whose body is not JSON: Tenon quarantines it. Returns the event id. */
  sendUnparseableStoreWebhook(body: string): Promise<string>;
  waitForRuns(what: string, check: (runs: RunRecord[]) => boolean, timeoutMs?: number): Promise<RunRecord[]>;
  waitForRunStatus(runId: string, status: RunStatus, timeoutMs?: number): Promise<RunRecord>;
  stop(): Promise<void>;
}

export interface DashboardStackOptions {
  /** More integrations beside the examples and `largeOrderDeal` (a test's own). */
  integrations?: TenonConfig["integrations"];
  /** Replace the example's reconciliations. */
  reconciliations?: Reconciliation[];
}

/**
 * The stack the dashboard's browser tests run against: the sandbox systems, and one Tenon process (engine,
 * server, dashboard) running the example integrations plus `largeOrderDeal`, with an operator and a viewer token.
 * `reconciliations` replace the example's.
 */
export async function startDashboardStack(
  backend: Backend,
  options: DashboardStackOptions = {},
): Promise<DashboardStack> {
  dealStage.won = "closed-won";
  const sandbox = createSandbox({ systems: builtInSystems });
  await sandbox.listen({ host: "127.0.0.1", port: 0 });
  const db = backend.create();
  const tokens = {
    operator: `ops-${randomBytes(16).toString("hex")}`,
    viewer: `wall-${randomBytes(16).toString("hex")}`,
  };
  let services: TenonServices;
  let storeSecret = "";
  try {
    Object.assign(process.env, sandboxEnvironment(sandbox, Object.keys(builtInSystems)));
    storeSecret = process.env.STORE_WEBHOOK_SECRET ?? "";
    const examples = await loadConfig(examplesConfig);
    const config: TenonConfig = {
      ...examples,
      integrations: [...examples.integrations, largeOrderDeal, ...(options.integrations ?? [])],
      ...(options.reconciliations ? { reconciliations: options.reconciliations } : {}),
    };
    const settings = readSettings({
      TENON_HTTP_PORT: "0",
      TENON_LOG_LEVEL: "silent",
      TENON_API_TOKENS: `ops:operator:${tokens.operator},wall:viewer:${tokens.viewer}`,
    });
    services = await startTenonServices({
      config,
      settings,
      storage: db.open(),
      vault: testVault(),
      logger: silentLogger,
    });
  } catch (error) {
    await sandbox.close();
    await db.cleanup();
    throw error;
  }
  sandbox.webhooks("store").url = `${services.address}/hooks/store`;
  const storage = services.engine.storage;
  const store = sandbox.system<ReturnType<typeof createStore>>("store");

  return {
    url: services.address,
    sandbox,
    services,
    tokens,
    placeOrders: (count) => Array.from({ length: count }, () => store.placeOrder()),
    async sendLargeOrder(order) {
      const { runIds } = await services.engine.send({ type: "order.large", payload: order });
      const runId = runIds[0];
      if (!runId) throw new Error("the large order started no run: is largeOrderDeal configured?");
      return runId;
    },
    async sendUnparseableStoreWebhook(body) {
      const response = await fetch(`${services.address}/hooks/store`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-shopify-hmac-sha256": createHmac("sha256", storeSecret).update(body).digest("base64"),
          "x-shopify-topic": "orders/create",
          "x-shopify-event-id": randomBytes(8).toString("hex"),
          "x-shopify-webhook-id": randomBytes(8).toString("hex"),
          "x-shopify-shop-domain": "acme.myshopify.com",
        },
        body,
      });
      const answer = (await response.json()) as { id?: string; quarantined?: boolean };
      if (response.status !== 202 || !answer.quarantined || !answer.id) {
        throw new Error(`the garbled webhook was not quarantined: ${response.status} ${JSON.stringify(answer)}`);
      }
      return answer.id;
    },
    waitForRuns: (what, check, timeoutMs = 30_000) =>
      waitFor(
        what,
        async () => {
          const runs = await storage.listRuns({ limit: 1000 });
          return check(runs) ? runs : null;
        },
        timeoutMs,
        100,
      ),
    waitForRunStatus: (runId, status, timeoutMs = 30_000) =>
      waitFor(
        `run ${runId} to be ${status}`,
        async () => {
          const run = await storage.getRun(runId);
          return run?.status === status ? run : null;
        },
        timeoutMs,
        100,
      ),
    async stop() {
      await sandbox.close();
      await services.stop(5_000);
      await db.cleanup();
    },
  };
}
