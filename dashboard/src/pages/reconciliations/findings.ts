import type { FindingRecord, FindingType, NormalizedValue, ReportFinding } from "../../api/reconciliation-types.ts";

/** A finding type in words: which side lacks the record, or which field differs. */
export function describeFinding(finding: Pick<ReportFinding, "type" | "field">): string {
  if (finding.type === "missing_right") return "Missing on the right";
  if (finding.type === "missing_left") return "Missing on the left";
  return `${finding.field ?? "a field"} differs`;
}

export const findingTypeLabels: Record<FindingType, string> = {
  missing_right: "Missing on the right (on the left only)",
  missing_left: "Missing on the left (on the right only)",
  mismatch: "Mismatched fields",
};

/** A compared or shown value as text: "—" for none, JSON for what is not a plain value. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** A mismatch's value on one side: one value, or the values of the records that share the key. */
export function formatSideValue(value: NormalizedValue | NormalizedValue[] | undefined): string {
  if (Array.isArray(value)) return value.map(formatValue).join(", ");
  return formatValue(value);
}

/** The fields a record shows, what `show` picked first (ids, names), then the compared values. */
export function recordFields(record: FindingRecord): [string, unknown][] {
  const shown = Object.entries(record.shown);
  const compared = Object.entries(record.fields).filter(([name]) => !(name in record.shown));
  return [...shown, ...compared];
}
