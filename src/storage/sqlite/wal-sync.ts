import { type FileHandle, open } from "node:fs/promises";

/**
 * `synchronous=FULL` durability without blocking the event loop.
 *
 * better-sqlite3 is synchronous: with `PRAGMA synchronous=FULL` every commit
 * waits for its fsync on the main thread, and no request is read meanwhile. So
 * the connection runs with `synchronous=NORMAL` (a commit appends its frames to
 * the WAL file without syncing; checkpoints still sync) and the storage awaits
 * `sync()` (fdatasync of the WAL on libuv's thread pool) before it reports a
 * write as done. A commit is durable once its WAL frames are on disk, which is
 * exactly what FULL would have waited for; callers that arrive while a sync is
 * running share the next one (group commit for fsyncs).
 */
export class WalSync {
  readonly #path: string;
  #handle: Promise<FileHandle> | undefined;
  #running: Promise<void> | undefined;
  /** Whether the running sync's fdatasync has been asked for: until then it covers every write made so far. */
  #issued = false;
  #next: Promise<void> | undefined;

  constructor(walPath: string) {
    this.#path = walPath;
  }

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    // A sync that has not started yet covers this caller's writes too.
    if (this.#next) return this.#next;
    if (!this.#running) return this.#start();
    // Started but still opening the file (a turn of the event loop): its fdatasync will cover our writes.
    if (!this.#issued) return this.#running;
    // The running sync may have begun before our writes: wait for it, then start one that covers them.
    const next = this.#running
      .catch(() => {})
      .then(() => {
        this.#next = undefined;
        return this.#start();
      });
    this.#next = next;
    return next;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle) await (await handle).close();
  }

  #start(): Promise<void> {
    this.#issued = false;
    const running = this.#datasync().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #datasync(): Promise<void> {
    this.#handle ??= open(this.#path, "r");
    let handle: FileHandle;
    try {
      handle = await this.#handle;
    } catch (error) {
      this.#handle = undefined;
      throw error;
    }
    // Every write made before this line is in the WAL file and covered by this fdatasync.
    this.#issued = true;
    await handle.datasync();
  }
}
