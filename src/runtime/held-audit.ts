import type { AuditRecord } from "../storage/connection-store.ts";

/**
 * The audit records of the exchanges a run makes while it executes, held until the run's next transition takes
 * them along (its step's record, or the failure, wait, pause or interruption that ends the attempt), so that
 * storage writes them in the same transaction: a crash after the step committed finds its exchanges in the audit
 * trail, one before it loses both alike. The engine makes one per execution of a claimed run (run-scope.ts), the
 * audit trail holds records in it, and the engine's transitions take them (execute-run.ts).
 *
 * What no transition takes (the worker found its lease lost and stopped without one, or a request the run did not
 * wait for ended after the execution) goes to `otherwise`, the audit trail's buffered path, once the execution
 * ends (`close`): recorded within a flush interval, and lost if the process dies before it. So do the records of a
 * step that makes more than `maxHeld` requests, `maxHeld` at a time (each record holds up to two bodies of 16 KiB:
 * a step that pages through a large listing must not keep them all in memory until it ends).
 */
export class HeldAudit {
  readonly #maxHeld: number;
  #records: AuditRecord[] = [];
  #otherwise: ((record: AuditRecord) => void)[] = [];
  #closed = false;

  constructor(maxHeld = 500) {
    this.#maxHeld = maxHeld;
  }

  /** Holds `record` for the next transition; once the execution has ended, hands it to `otherwise` at once. */
  hold(record: AuditRecord, otherwise: (record: AuditRecord) => void): void {
    if (this.#closed) {
      otherwise(record);
      return;
    }
    this.#records.push(record);
    this.#otherwise.push(otherwise);
    if (this.#records.length >= this.#maxHeld) this.#release();
  }

  /** The records held since the last take, for a transition to carry; undefined when there are none. */
  take(): AuditRecord[] | undefined {
    if (this.#records.length === 0) return undefined;
    const records = this.#records;
    this.#records = [];
    this.#otherwise = [];
    return records;
  }

  /** The execution ended: what no transition took, and whatever comes later, goes the buffered way. */
  close(): void {
    this.#closed = true;
    this.#release();
  }

  #release(): void {
    const records = this.#records;
    const otherwise = this.#otherwise;
    this.#records = [];
    this.#otherwise = [];
    for (const [i, record] of records.entries()) otherwise[i]?.(record);
  }
}
