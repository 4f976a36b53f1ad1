import type { DriftChange } from "../storage/drift-store.ts";

/** One change of one field, seen in one body (or, for presence, in the recent window). */
export interface FieldChange {
  fieldPath: string;
  change: DriftChange;
  /** Where the example comes from: the field's value in the body that showed the change; none when it is gone. */
  exampleFromBody: boolean;
}
