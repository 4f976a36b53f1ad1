import type { SandboxSystemFactory } from "../create-sandbox.ts";
import { createAccounting } from "./accounting.ts";
import { createChat } from "./chat.ts";
import { createCrm } from "./crm.ts";
import { createEmail } from "./email.ts";
import { createInventory } from "./inventory.ts";
import { createMail } from "./mail.ts";
import { createPager } from "./pager.ts";
import { createPayments } from "./payments.ts";
import { createScheduling } from "./scheduling.ts";
import { createSms } from "./sms.ts";
import { createStore } from "./store.ts";

/** Every system the sandbox ships, by the name that is its URL prefix (`/store`, `/crm`, …). */
export const builtInSystems: Record<string, SandboxSystemFactory> = {
  store: (context) => createStore(context),
  payments: (context) => createPayments(context),
  crm: (context) => createCrm(context),
  accounting: (context) => createAccounting(context),
  inventory: (context) => createInventory(context),
  email: (context) => createEmail(context),
  sms: (context) => createSms(context),
  scheduling: (context) => createScheduling(context),
  chat: (context) => createChat(context),
  pager: (context) => createPager(context),
  mail: (context) => createMail(context),
};
