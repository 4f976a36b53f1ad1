import { defineConfig } from "../src/index.ts";
import { nightlyReport } from "./nightly-report.ts";
import { orderToCash } from "./order-to-cash.ts";

export default defineConfig({
  integrations: [orderToCash, nightlyReport],
});
