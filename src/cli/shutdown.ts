/**
 * Runs `stop` on the first SIGINT or SIGTERM, then exits 0. A second signal
 * while stopping exits at once: the operator asked twice, and leases make that
 * safe (runs still held are requeued when their lease runs out or at the next start).
 * Returns a function that starts the same shutdown without a signal.
 */
export function onShutdownSignal(stop: (reason: string) => Promise<void>): (reason: string) => void {
  let stopping = false;
  const shutDown = (reason: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    stop(reason).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`tenon: stopping failed: ${(error as Error).stack ?? String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutDown);
  process.on("SIGTERM", shutDown);
  return shutDown;
}
