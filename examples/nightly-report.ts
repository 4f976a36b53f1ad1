import { defineIntegration } from "../src/index.ts";
import { accounting, email } from "./simulated-systems.ts";

/**
 * A scheduled report of the invoices created so far. It fires every minute so
 * the demo shows a schedule at work; a real nightly report would use "0 2 * * *".
 */
export const nightlyReport = defineIntegration({
  id: "nightly-report",
  trigger: { cron: "* * * * *" },

  async run({ step }) {
    const figures = await step.run("summarize-invoices", () => accounting.summarizeInvoices());
    const sent = await step.run("email-report", () =>
      email.send({ to: "ops@example.com", template: "daily-invoices" }),
    );
    return { invoices: figures.count, total: figures.total, messageId: sent.messageId };
  },
});
