import { z } from "zod";

/**
 * Faults a developer (or a test, or the demo) injects into one sandbox system with
 * `POST /_sandbox/<system>/faults`. Each field is kept until changed; `null` clears it.
 */
export const faultsInput = z
  .object({
    /** Added before every API answer, in ms. */
    latencyMs: z.number().int().min(0).max(60_000).nullable(),
    /** Share of API requests (0–1) answered with a 5xx. */
    errorRate: z.number().min(0).max(1).nullable(),
    /**
     * When an injected 5xx strikes: "before" the request is processed (nothing happened), "after" it was
     * processed (the change is made, the answer is lost: what idempotency keys exist for), or "either" (default).
     */
    errorTiming: z.enum(["before", "after", "either"]).nullable(),
    /** Share of API requests (0–1) answered 429 with `Retry-After`. */
    rateLimitRate: z.number().min(0).max(1).nullable(),
    /** The `Retry-After` of injected 429s, in seconds. Default 1. */
    retryAfterSeconds: z.number().int().min(0).max(3600).nullable(),
    /** Every request (OAuth token endpoint included) is answered 503 until this time (ISO 8601 or epoch ms). */
    outageUntil: z.union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()]).nullable(),
    /** Responses have this field renamed, dropped or retyped (number ↔ string), wherever it appears. */
    schemaChange: z
      .object({
        field: z.string().min(1),
        action: z.enum(["rename", "drop", "retype"]),
        /** The new name, for "rename". */
        to: z.string().min(1).optional(),
      })
      .refine((change) => change.action !== "rename" || change.to !== undefined, {
        message: 'a "rename" needs "to", the field\'s new name',
      })
      .nullable(),
    /**
     * Share of the system's webhooks (0–1) it never sends, silently, as a provider that loses some: the
     * record exists, nobody is told (what reconciliation finds). The state counts them (`webhooksDropped`).
     */
    dropWebhooksRate: z.number().min(0).max(1).nullable(),
    /** One-off action: every access and refresh token (or API key) stops working until credentials are restored. */
    revokeCredentials: z.literal(true),
    /** One-off action: revoked credentials work again. */
    restoreCredentials: z.literal(true),
  })
  .partial()
  .strict();

export type FaultsInput = z.infer<typeof faultsInput>;

export interface Faults {
  latencyMs: number;
  errorRate: number;
  errorTiming: "before" | "after" | "either";
  rateLimitRate: number;
  retryAfterSeconds: number;
  /** Epoch ms; 0 for none. */
  outageUntil: number;
  schemaChange: { field: string; action: "rename" | "drop" | "retype"; to?: string } | null;
  dropWebhooksRate: number;
}

export function noFaults(): Faults {
  return {
    latencyMs: 0,
    errorRate: 0,
    errorTiming: "either",
    rateLimitRate: 0,
    retryAfterSeconds: 1,
    outageUntil: 0,
    schemaChange: null,
    dropWebhooksRate: 0,
  };
}

/** The faults after applying `input` (absent fields unchanged, null ones reset). */
export function mergeFaults(current: Faults, input: FaultsInput): Faults {
  const reset = noFaults();
  const next: Faults = { ...current };
  if (input.latencyMs !== undefined) next.latencyMs = input.latencyMs ?? reset.latencyMs;
  if (input.errorRate !== undefined) next.errorRate = input.errorRate ?? reset.errorRate;
  if (input.errorTiming !== undefined) next.errorTiming = input.errorTiming ?? reset.errorTiming;
  if (input.rateLimitRate !== undefined) next.rateLimitRate = input.rateLimitRate ?? reset.rateLimitRate;
  if (input.retryAfterSeconds !== undefined)
    next.retryAfterSeconds = input.retryAfterSeconds ?? reset.retryAfterSeconds;
  if (input.outageUntil !== undefined) {
    next.outageUntil =
      input.outageUntil === null
        ? 0
        : typeof input.outageUntil === "number"
          ? input.outageUntil
          : Date.parse(input.outageUntil);
  }
  if (input.schemaChange !== undefined) next.schemaChange = input.schemaChange;
  if (input.dropWebhooksRate !== undefined) next.dropWebhooksRate = input.dropWebhooksRate ?? reset.dropWebhooksRate;
  return next;
}

/** What the fault settings do to one API request, decided when it arrives. */
export type FaultDecision =
  | { kind: "none" }
  | { kind: "outage"; until: number }
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "error_before"; status: number }
  | { kind: "error_after"; status: number };

const errorStatuses = [500, 502, 503];

export function decideFault(faults: Faults, now: number, random: () => number = Math.random): FaultDecision {
  if (faults.outageUntil > now) return { kind: "outage", until: faults.outageUntil };
  if (faults.rateLimitRate > 0 && random() < faults.rateLimitRate) {
    return { kind: "rate_limited", retryAfterSeconds: faults.retryAfterSeconds };
  }
  if (faults.errorRate > 0 && random() < faults.errorRate) {
    const status = errorStatuses[Math.floor(random() * errorStatuses.length)] ?? 503;
    const after = faults.errorTiming === "after" || (faults.errorTiming === "either" && random() < 0.5);
    return after ? { kind: "error_after", status } : { kind: "error_before", status };
  }
  return { kind: "none" };
}

/** Applies a schema change to a parsed JSON response: every property named `field`, at any depth. */
export function changeSchema(value: unknown, change: NonNullable<Faults["schemaChange"]>): unknown {
  if (Array.isArray(value)) return value.map((item) => changeSchema(item, change));
  if (value === null || typeof value !== "object") return value;
  const changed: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key !== change.field) {
      changed[key] = changeSchema(inner, change);
      continue;
    }
    if (change.action === "drop") continue;
    if (change.action === "rename") changed[change.to ?? key] = inner;
    else changed[key] = retype(inner);
  }
  return changed;
}

function retype(value: unknown): unknown {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return Number.isNaN(Number(value)) ? value.length : Number(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return JSON.stringify(value);
}
