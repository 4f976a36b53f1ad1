import Database from "better-sqlite3";
import { ConfigurationError } from "../../sdk/errors.ts";

/**
 * One process runs the worker of a SQLite file. That is what makes leases safe there without fencing
 * across processes: at start, the owner requeues every run still `running` (their process died), which
 * would be wrong if another live process were executing them.
 *
 * Ownership is an exclusive lock on a small companion database (`<file>-worker.lock`), held by a
 * connection in EXCLUSIVE locking mode for the owner's lifetime. The operating system drops the lock
 * when the process exits, however it exits (kill -9 included), so a crashed owner never blocks its
 * successor. Readers of the main file (`tenon runs`, `tenon replay`) need no ownership.
 */
export function takeWorkerOwnership(path: string): Database.Database {
  const lockPath = `${path}-worker.lock`;
  const lock = new Database(lockPath, { timeout: 0 });
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    // The first write takes the exclusive lock; EXCLUSIVE locking mode keeps it until the connection closes.
    lock.exec("CREATE TABLE IF NOT EXISTS owner (pid INTEGER NOT NULL)");
    lock.transaction(() => {
      lock.exec("DELETE FROM owner");
      lock.prepare("INSERT INTO owner (pid) VALUES (?)").run(process.pid);
    })();
    return lock;
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code === "SQLITE_BUSY") {
      throw new ConfigurationError(
        `another live process runs a Tenon worker on ${path} (it holds ${lockPath}); one process owns a SQLite ` +
          "file: stop the other one first, or use PostgreSQL (TENON_DATABASE_URL) to run several workers",
      );
    }
    throw error;
  }
}
