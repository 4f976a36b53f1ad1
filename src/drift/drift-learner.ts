import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { ResponseObserver } from "../connections/http/connection-client.ts";
import type { Clock } from "../runtime/clock.ts";
import { newId } from "../runtime/ids.ts";
import type { DriftShapeKey, DriftStore, NewDriftIncident, StoredDriftShape } from "../storage/drift-store.ts";
import type { FieldChange } from "./drift-changes.ts";
import { bodyShape, defaultShapeLimits, describeExample, type ShapeLimits, valueAt } from "./json-shape.ts";
import { defaultShapeThresholds, LearnedShape, type ShapeThresholds } from "./learned-shape.ts";
import { routeTemplateOf } from "./route-template.ts";
import type { SchemaField } from "./schema-field-paths.ts";
import { expectSchemaReads, listenToEventSchemas } from "./schema-reads.ts";

export interface DriftLearnerOptions {
  store: DriftStore;
  clock: Clock;
  logger: Logger;
  /** Shapes and incidents are written at least this often. Default 2000 ms. */
  persistIntervalMs?: number;
  /** Bodies learned from per shape key per second (by `clock`); the others are not looked at. Default 10. */
  maxSamplesPerSecond?: number;
  thresholds?: Partial<ShapeThresholds>;
  limits?: Partial<ShapeLimits>;
}

/** Sees a stored webhook event's payload, on the request's path: it must only take a reference and return. */
export type EventObserver = (source: string, eventType: string, payload: unknown) => void;

interface ShapeState {
  key: DriftShapeKey;
  id: string;
  generation: number;
  shape: LearnedShape;
  /** Fields a connector's response schema reads, or (webhooks) an integration's payload schema requires. */
  readPaths: Set<string>;
  dirty: boolean;
}

interface PendingIncident {
  state: ShapeState;
  change: FieldChange;
  example: string | null;
  seenCount: number;
  at: number;
}

/**
 * Learns the JSON shape of what Tenon receives (connection answers, webhook events) and records drift incidents
 * when it changes. On the request's path it costs a sampling check and a push: the bodies are walked in a
 * `setImmediate` batch, and shapes and incidents are written once per persistence period, never per request.
 */
export class DriftLearner {
  readonly #options: DriftLearnerOptions;
  readonly #thresholds: ShapeThresholds;
  readonly #limits: ShapeLimits;
  readonly #maxPerSecond: number;
  readonly #states = new Map<string, ShapeState>();
  /** Per shape key: the second (by the clock) and how many bodies were sampled in it. */
  readonly #budget = new Map<string, { second: number; count: number }>();
  #queue: { key: DriftShapeKey; keyId: string; body: object }[] = [];
  #scheduled = false;
  readonly #pending = new Map<string, PendingIncident>();
  #timer: NodeJS.Timeout | undefined;
  #persisting: Promise<void> = Promise.resolve();
  #stopListening: (() => void) | undefined;

  constructor(options: DriftLearnerOptions) {
    this.#options = options;
    this.#thresholds = { ...defaultShapeThresholds, ...options.thresholds };
    this.#limits = { ...defaultShapeLimits, ...options.limits };
    this.#maxPerSecond = options.maxSamplesPerSecond ?? 10;
  }

  /** Carries on from the stored shapes, then persists every period. */
  async start(): Promise<void> {
    for (const stored of await this.#options.store.loadShapes()) {
      this.#states.set(stored.id, this.#stateOf(stored, stored.id));
    }
    this.#timer = setInterval(() => void this.persist(), this.#options.persistIntervalMs ?? 2000);
    this.#timer.unref();
    this.#stopListening = listenToEventSchemas((source, eventType, fields) =>
      this.#noteReads(webhookKeyId(source, eventType), webhookKey(source, eventType), fields, true),
    );
  }

  /** Learns what is queued and writes what is pending. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopListening?.();
    await this.persist();
  }

  /**
   * A connection's answer (a `ResponseObserver`). Without the caller's route template, the path it gave is made
   * into one. Only JSON objects and arrays are learned.
   */
  readonly observeResponse: ResponseObserver = (connectionId, method, urlTemplate, path, status, body) => {
    if (body === null || typeof body !== "object") return;
    const routeTemplate = urlTemplate ?? routeTemplateOf(path);
    const keyId = `c\u0000${connectionId}\u0000${method}\u0000${routeTemplate}\u0000${status}`;
    if (!this.#admit(keyId)) return;
    const key: DriftShapeKey = {
      kind: "connection",
      subject: connectionId,
      method,
      routeTemplate,
      status,
      eventType: null,
    };
    // Any schema reads all of the answer: its optional fields too, which the connector passes on when present.
    expectSchemaReads(body, (fields) => this.#noteReads(keyId, key, fields, false));
    this.#enqueue(key, keyId, body);
  };

  /** A webhook event's payload (an `EventObserver`). */
  readonly observeEvent: EventObserver = (source, eventType, payload) => {
    if (payload === null || typeof payload !== "object") return;
    const keyId = webhookKeyId(source, eventType);
    if (!this.#admit(keyId)) return;
    this.#enqueue(webhookKey(source, eventType), keyId, payload);
  };

  /** Learns what is queued now, then writes the shapes that changed and the incidents found. */
  persist(): Promise<void> {
    this.#learnQueued();
    this.#persisting = this.#persisting.then(() =>
      this.#write().catch((error: Error) => {
        this.#options.logger.error({ err: error.message }, "storing learned API shapes and drift failed");
      }),
    );
    return this.#persisting;
  }

  #admit(keyId: string): boolean {
    const second = Math.floor(this.#options.clock.now() / 1000);
    const budget = this.#budget.get(keyId);
    if (!budget || budget.second !== second) {
      this.#budget.set(keyId, { second, count: 1 });
      return true;
    }
    if (budget.count >= this.#maxPerSecond) return false;
    budget.count += 1;
    return true;
  }

  #enqueue(key: DriftShapeKey, keyId: string, body: object): void {
    this.#queue.push({ key, keyId, body });
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#learnQueued());
  }

  #learnQueued(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const { key, keyId, body } of queue) {
      const state = this.#state(keyId, key);
      const changes = state.shape.observe(bodyShape(body, this.#limits));
      state.dirty = true;
      for (const change of changes) this.#pend(state, change, body);
    }
  }

  #pend(state: ShapeState, change: FieldChange, body: object): void {
    const id = pendingId(state, change);
    const pending = this.#pending.get(id);
    const at = this.#options.clock.now();
    if (pending) {
      pending.seenCount += 1;
      pending.at = at;
      return;
    }
    const found = change.exampleFromBody ? valueAt(body, change.fieldPath) : { found: false };
    const example = found.found ? describeExample(found.value) : null;
    this.#pending.set(id, { state, change, example, seenCount: 1, at });
  }

  async #write(): Promise<void> {
    const store = this.#options.store;
    const now = this.#options.clock.now();
    const dirty = [...this.#states.values()].filter((state) => state.dirty);
    const pending = [...this.#pending.values()];
    for (const state of dirty) state.dirty = false;
    this.#pending.clear();
    try {
      if (dirty.length > 0) {
        const stale = await store.saveShapes(
          dirty.map((state) => ({
            ...state.key,
            id: state.id,
            generation: state.generation,
            baseline: state.shape.baseline,
            updatedAt: now,
          })),
        );
        if (stale.length > 0) await this.#reload(new Set(stale));
      }
      // Incidents of a shape accepted meanwhile were found against the baseline that was just replaced.
      const incidents = pending.filter((p) => this.#states.get(p.state.id) === p.state).map(incidentOf);
      if (incidents.length > 0) await store.recordIncidents(incidents);
    } catch (error) {
      // Kept for the next period: a change seen once must not be lost to a database that was briefly away.
      for (const state of dirty) state.dirty = true;
      for (const kept of pending) {
        const id = pendingId(kept.state, kept.change);
        const later = this.#pending.get(id);
        if (later) later.seenCount += kept.seenCount;
        else this.#pending.set(id, kept);
      }
      throw error;
    }
  }

  async #reload(ids: Set<string>): Promise<void> {
    for (const stored of await this.#options.store.loadShapes()) {
      if (ids.has(stored.id)) this.#states.set(stored.id, this.#stateOf(stored, stored.id));
    }
  }

  #noteReads(keyId: string, key: DriftShapeKey, fields: SchemaField[], requiredOnly: boolean): void {
    const state = this.#state(keyId, key);
    for (const field of fields) if (field.required || !requiredOnly) state.readPaths.add(field.path);
  }

  #state(keyId: string, key: DriftShapeKey): ShapeState {
    const id = shapeIdOf(keyId);
    let state = this.#states.get(id);
    if (!state) {
      state = this.#stateOf({ ...key, generation: 0, baseline: null }, id);
      this.#states.set(id, state);
    }
    return state;
  }

  #stateOf(stored: Omit<StoredDriftShape, "id" | "updatedAt">, id: string): ShapeState {
    const key: DriftShapeKey = {
      kind: stored.kind,
      subject: stored.subject,
      method: stored.method,
      routeTemplate: stored.routeTemplate,
      status: stored.status,
      eventType: stored.eventType,
    };
    const readPaths = this.#states.get(id)?.readPaths ?? new Set<string>();
    return {
      key,
      id,
      generation: stored.generation,
      shape: new LearnedShape(stored.baseline, this.#thresholds),
      readPaths,
      dirty: false,
    };
  }
}

function pendingId(state: ShapeState, change: FieldChange): string {
  return `${state.id}\u0000${change.fieldPath}\u0000${change.change}`;
}

function incidentOf(pending: PendingIncident): NewDriftIncident {
  const { state, change } = pending;
  return {
    ...state.key,
    id: newId(),
    shapeId: state.id,
    fieldPath: change.fieldPath,
    change: change.change,
    // A new field breaks nothing that reads the old ones.
    breaking: change.change !== "added" && isRead(state.readPaths, change.fieldPath),
    example: pending.example,
    seenCount: pending.seenCount,
    at: pending.at,
  };
}

/** Breaking: the field is read, or holds (or held) a field that is, so a read now finds nothing or the wrong type. */
function isRead(readPaths: Set<string>, path: string): boolean {
  if (readPaths.has(path)) return true;
  for (const read of readPaths) if (read.startsWith(`${path}.`) || read.startsWith(`${path}[]`)) return true;
  return false;
}

function webhookKeyId(source: string, eventType: string): string {
  return `w\u0000${source}\u0000${eventType}`;
}

function webhookKey(source: string, eventType: string): DriftShapeKey {
  return { kind: "webhook", subject: source, method: null, routeTemplate: null, status: null, eventType };
}

/** Stable across processes and restarts: the same route's shape is one row, whichever worker learned it. */
function shapeIdOf(keyId: string): string {
  return createHash("sha256").update(keyId).digest("base64url").slice(0, 22);
}
