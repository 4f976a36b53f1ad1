import type { Sandbox } from "../sandbox/create-sandbox.ts";
import type { Faults, FaultsInput } from "../sandbox/faults.ts";
import type { CapturedRequest } from "../sandbox/request-log.ts";
import type { SandboxSystem } from "../sandbox/sandbox-system.ts";
import type { AccountingSystem } from "../sandbox/systems/accounting.ts";
import type { ChatSystem } from "../sandbox/systems/chat.ts";
import type { CrmSystem } from "../sandbox/systems/crm.ts";
import type { EmailSystem } from "../sandbox/systems/email.ts";
import type { Inventory } from "../sandbox/systems/inventory.ts";
import type { MailSystem } from "../sandbox/systems/mail.ts";
import type { PagerSystem } from "../sandbox/systems/pager.ts";
import type { Payments } from "../sandbox/systems/payments.ts";
import type { SchedulingSystem } from "../sandbox/systems/scheduling.ts";
import type { SmsSystem } from "../sandbox/systems/sms.ts";
import type { Store } from "../sandbox/systems/store.ts";
import type { WebhookDeliveryState } from "../sandbox/webhook-delivery-log.ts";

/** The sandbox's systems by name (their URL prefix and the prefix of their environment variables). */
interface BuiltInSystems {
  store: Store;
  payments: Payments;
  crm: CrmSystem;
  accounting: AccountingSystem;
  inventory: Inventory;
  email: EmailSystem;
  sms: SmsSystem;
  scheduling: SchedulingSystem;
  chat: ChatSystem;
  pager: PagerSystem;
  mail: MailSystem;
}

export type SandboxSystemName = keyof BuiltInSystems;

export const sandboxSystemNames: readonly SandboxSystemName[] = [
  "store",
  "payments",
  "crm",
  "accounting",
  "inventory",
  "email",
  "sms",
  "scheduling",
  "chat",
  "pager",
  "mail",
];

/**
 * One system as a test drives it: its records (`state()`) and what happens in it on its own
 * (`store.placeOrder`, `payments.customerPays`, `scheduling.completeAppointment`, `crm.authorize`, …).
 * Its API is for the integrations: they reach it through their connections.
 */
export type TestSandboxSystem<Name extends SandboxSystemName> = Omit<
  BuiltInSystems[Name],
  Exclude<keyof SandboxSystem, "state">
>;

/** A sandbox system's webhooks: where they go, and each message's delivery (pending and failed ones, recent delivered ones). */
export interface TestWebhooks {
  url: string | null;
  delivered: number;
  pending: readonly WebhookDeliveryState[];
  failed: readonly WebhookDeliveryState[];
}

export type TestSandbox = { readonly [Name in SandboxSystemName]: TestSandboxSystem<Name> } & {
  /** The sandbox's base URL, e.g. `http://127.0.0.1:41234` (each system under `/<name>`). */
  readonly url: string;
  /** The variables the config was evaluated with: `TENON_SANDBOX_URL`, `STORE_WEBHOOK_SECRET`, `CRM_CLIENT_ID`, … */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Injects faults into a system's API, as `POST /_sandbox/<name>/faults` does: `{ errorRate: 1 }` fails every
   * request with a 5xx, `{ outageUntil: Date.now() + 2000 }` takes it down for two seconds, `{ revokeCredentials: true }`
   * rejects its tokens. Fields are kept until changed; `null` clears one. Returns the faults now in force.
   */
  setFaults(name: SandboxSystemName, faults: FaultsInput): Faults;
  /** Clears every fault of a system (revoked credentials stay revoked: `setFaults(name, { restoreCredentials: true })`). */
  clearFaults(name: SandboxSystemName): Faults;
  /** Every API request the system received, oldest first: what the integrations sent it. */
  requests(name: SandboxSystemName): readonly CapturedRequest[];
  /** The system's outbound webhooks (to Tenon's `/hooks/<name>` when the config has that webhook source). */
  webhooks(name: SandboxSystemName): TestWebhooks;
};

const noFaultFields: FaultsInput = {
  latencyMs: null,
  errorRate: null,
  errorTiming: null,
  rateLimitRate: null,
  retryAfterSeconds: null,
  outageUntil: null,
  schemaChange: null,
};

/** The test's view of a running sandbox; `environment` is what `sandboxEnvironment` put in `process.env`. */
export function testSandbox(sandbox: Sandbox, environment: Record<string, string>): TestSandbox {
  const system = <Name extends SandboxSystemName>(name: Name) => sandbox.system(name) as BuiltInSystems[Name];
  return {
    store: system("store"),
    payments: system("payments"),
    crm: system("crm"),
    accounting: system("accounting"),
    inventory: system("inventory"),
    email: system("email"),
    sms: system("sms"),
    scheduling: system("scheduling"),
    chat: system("chat"),
    pager: system("pager"),
    mail: system("mail"),
    url: sandbox.url,
    environment: { ...environment },
    setFaults: (name, faults) => sandbox.setFaults(name, faults),
    clearFaults: (name) => sandbox.setFaults(name, noFaultFields),
    requests: (name) => sandbox.requests(name),
    webhooks(name) {
      const { url, delivered, deliveries } = sandbox.webhooks(name).state();
      return { url, delivered, pending: deliveries.pending, failed: deliveries.failed };
    },
  };
}
