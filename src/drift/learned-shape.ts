import type { ShapeSummary } from "../storage/drift-store.ts";
import type { FieldChange } from "./drift-changes.ts";
import { jsonTypes, parentPath } from "./json-shape.ts";

export interface ShapeThresholds {
  /** Bodies learned before the shape is a baseline and changes count as drift. */
  minSamples: number;
  /** Bodies in the recent window that removal and presence are judged on; it starts again when full. */
  windowSize: number;
  /** Bodies the window needs before a field missing from all of them is "removed". */
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
 * recent window compared with it. Changes a single body shows (a new field, a new type, a null) are reported
 * by that body; a field that went missing is judged on the window, so that one body without an optional field
 * is not drift.
 */
export class LearnedShape {
  readonly #thresholds: ShapeThresholds;
  #baseline: ShapeSummary | null;
  #learning = emptySummary();
  #window = emptySummary();

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
    return [...this.#changesIn(body, baseline), ...this.#changesInWindow(baseline)];
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

  #changesInWindow(baseline: ShapeSummary): FieldChange[] {
    const window = this.#window;
    const { minWindow, expectedPresence, presenceDrop } = this.#thresholds;
    if (window.samples < minWindow) return [];
    const changes: FieldChange[] = [];
    const gone = (path: string) => {
      const known = baseline.paths[path];
      return known !== undefined && known[1] / baseline.samples >= expectedPresence && !window.paths[path];
    };
    for (const [path, [, present]] of Object.entries(baseline.paths)) {
      const was = present / baseline.samples;
      if (was < expectedPresence) continue;
      const now = (window.paths[path]?.[1] ?? 0) / window.samples;
      if (now === 0) {
        // Only the outermost missing field: the fields of a missing object are missing with it.
        if (!gone(parentPath(path))) changes.push({ fieldPath: path, change: "removed", exampleFromBody: false });
      } else if (was - now > presenceDrop) {
        changes.push({ fieldPath: path, change: "presence_dropped", exampleFromBody: false });
      }
    }
    return changes;
  }
}
