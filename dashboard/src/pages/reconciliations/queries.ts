import { apiGet } from "../../api/client.ts";
import type { ReconciliationListing } from "../../api/reconciliation-types.ts";

/** Every reconciliation with its open findings and newest report: the list, and each one's page, read it. */
export const reconciliationsQuery = {
  queryKey: ["reconciliations"],
  queryFn: () => apiGet<{ reconciliations: ReconciliationListing[] }>("/api/reconciliations"),
} as const;

export function reconciliationPath(id: string): string {
  return `/reconciliations/${encodeURIComponent(id)}`;
}

export function reportPath(id: string, number: number): string {
  return `${reconciliationPath(id)}/reports/${number}`;
}

export const modeWords = {
  auto: "repairs at once",
  approve: "an operator approves repairs",
  report: "reports only",
} as const;
