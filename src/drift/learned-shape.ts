import type { ShapeSummary } from "../storage/drift-store.ts";
import type { FieldChange } from "./drift-changes.ts";
import { jsonTypes, parentPath } from "./json-shape.ts";

export interface ShapeThresholds {
  /** Bodies learned before the shape is a baseline and changes count as drift. */
  minSamples: number;
  /** Bodies in the recent window that presence is judged on; it starts again when full. */
  windowSize: number;
  /** Bodies the window needs before its presence is compared with the baseline's. */
  presenceWindow: number;
  /** Bodies in a row without an expected field that make it "removed". */
  minWindow: number;
  /** Distinct field paths a shape keeps: its stored size is bounded however varied the bodies. */
  maxPaths: number;
  /** A field present in at least this share of the baseline is expected in every body. */
  expectedPresence: number;
  /** Presence that falls by more than this share (0.999 → 0.6) is "presence_dropped". */
  presenceDrop: number;
}

export const defaultShapeThresholds: ShapeThresholds = {
  minSamples: 20,
  windowSize: 100,
  presenceWindow: 50,
  minWindow: 10,
  maxPaths: 500,
  expectedPresence: 0.95,
  presenceDrop: 0.25,
};

const nullBit = jsonTypes.null;

export function emptySummary(): ShapeSummary {
  return { samples: 0, paths: {} };
}

function addBody(summary: ShapeSummary, body: Map<string, number>, maxPaths: number): void {
  summary.samples += 1;
  for (const [path, types] of body) {
    const seen = summary.paths[path];
    if (seen) {
      seen[0] |= types;
      seen[1] += 1;
    } else if (Object.keys(summary.paths).length < maxPaths) summary.paths[path] = [types, 1];
  }
}

/**
 * What Tenon knows of one shape key's bodies: a baseline learned from the first `minSamples` bodies, and the
 * recent bodies compared with it. Changes a single body shows (a new field, a new type, a null) are reported by
 * that body; a field that goes missing is judged on several: "removed" once `minWindow` bodies in a row came
 * without it, "presence_dropped" when the recent window has it much less often than the baseline did.
 */
export class LearnedShape {
  readonly #thresholds: ShapeThresholds;
  #baseline: ShapeSummary | null;
  #learning = emptySummary();
  #window = emptySummary();
  /** Per expected field: how many bodies in a row have come without it. */
  readonly #missingInARow = new Map<string, number>();

  constructor(baseline: ShapeSummary | null, thresholds: ShapeThresholds) {
    this.#baseline = baseline;
    this.#thresholds = thresholds;
  }

  get baseline(): ShapeSummary | null {
    return this.#baseline;
  }

  /** Learns from one body; returns the changes it shows against the baseline (none while learning). */
  observe(body: Map<string, number>): FieldChange[] {
    const baseline = this.#baseline;
    if (!baseline) {
      addBody(this.#learning, body, this.#thresholds.maxPaths);
      if (this.#learning.samples >= this.#thresholds.minSamples) {
        this.#baseline = this.#learning;
        this.#learning = emptySummary();
      }
      return [];
    }
    if (this.#window.samples >= this.#thresholds.windowSize) this.#window = emptySummary();
    addBody(this.#window, body, this.#thresholds.maxPaths);
    return [...this.#changesIn(body, baseline), ...this.#missingFields(body, baseline)];
  }

  #changesIn(body: Map<string, number>, baseline: ShapeSummary): FieldChange[] {
    const changes: FieldChange[] = [];
    for (const [path, types] of body) {
      const known = baseline.paths[path];
      if (!known) {
        // Only the outermost new field: a new object's own fields are part of that one change.
        const parent = parentPath(path);
        if (parent === "" || baseline.paths[parent])
          changes.push({ fieldPath: path, change: "added", exampleFromBody: true });
        continue;
      }
      const knownTypes = known[0];
      if ((types & ~nullBit & ~knownTypes) !== 0)
        changes.push({ fieldPath: path, change: "type_changed", exampleFromBody: true });
      else if ((types & nullBit) !== 0 && (knownTypes & nullBit) === 0)
        changes.push({ fieldPath: path, change: "became_nullable", exampleFromBody: true });
    }
    return changes;
  }

  #missingFields(body: Map<string, number>, baseline: ShapeSummary): FieldChange[] {
    const { minWindow, presenceWindow, expectedPresence, presenceDrop } = this.#thresholds;
    const window = this.#window;
    const expected = (path: string) => {
      const known = baseline.paths[path];
      return known !== undefined && known[1] / baseline.samples >= expectedPresence;
    };
    const removed = (path: string) => expected(path) && (this.#missingInARow.get(path) ?? 0) >= minWindow;
    for (const path of Object.keys(baseline.paths)) {
      if (!expected(path)) continue;
      this.#missingInARow.set(path, body.has(path) ? 0 : (this.#missingInARow.get(path) ?? 0) + 1);
    }
    const changes: FieldChange[] = [];
    for (const [path, [, present]] of Object.entries(baseline.paths)) {
      if (!expected(path)) continue;
      if (removed(path)) {
        // Only the outermost missing field: the fields of a missing object are missing with it.
        if (!removed(parentPath(path))) changes.push({ fieldPath: path, change: "removed", exampleFromBody: false });
        continue;
      }
      if (window.samples < presenceWindow) continue;
      const now = (window.paths[path]?.[1] ?? 0) / window.samples;
      if (present / baseline.samples - now > presenceDrop) {
        changes.push({ fieldPath: path, change: "presence_dropped", exampleFromBody: false });
      }
    }
    return changes;
  }
}
