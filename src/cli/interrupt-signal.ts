/**
 * For commands that work through many items in transactions: the first SIGINT or SIGTERM asks them to stop
 * after the transaction in flight (the returned signal aborts), a second one exits at once. Either way nothing
 * is half done, since each transaction commits whole or not at all.
 */
export function abortOnInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
