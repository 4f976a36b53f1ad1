import type { EventRecord, EventStatus } from "../storage/contract.ts";

/**
 * An event as `tenon events --json` and `GET /api/events` show it: times in ISO 8601 (UTC), the quarantine
 * reason in full, no payload (the detail views add it). One shape for the CLI and the API.
 */
export interface EventJson {
  id: string;
  source: string;
  type: string;
  /** The provider's own id, on which redeliveries are deduplicated. */
  providerId: string | null;
  status: EventStatus;
  /** Why it is quarantined; null for other statuses. */
  reason: string | null;
  receivedAt: string;
}

export function eventToJson(event: EventRecord): EventJson {
  return {
    id: event.id,
    source: event.source,
    type: event.type,
    providerId: event.dedupKey,
    status: event.status,
    reason: event.error,
    receivedAt: new Date(event.receivedAt).toISOString(),
  };
}
