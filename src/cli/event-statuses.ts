import type { EventStatus } from "../storage/contract.ts";

/** A record, not an array, so the compiler points here when the storage contract gains a status. */
const statuses: Record<EventStatus, true> = {
  accepted: true,
  unmatched: true,
  quarantined: true,
};

/** `processed` is how the docs and the issue tracker speak of an accepted event: both words work. */
const aliases = { processed: "accepted" } as const satisfies Record<string, EventStatus>;

/** What `tenon events --status` accepts. */
export const eventStatusChoices = [...Object.keys(statuses), ...Object.keys(aliases)] as (
  | EventStatus
  | keyof typeof aliases
)[];

export type EventStatusChoice = (typeof eventStatusChoices)[number];

export function toEventStatus(choice: EventStatusChoice): EventStatus {
  return choice === "processed" ? aliases.processed : choice;
}
