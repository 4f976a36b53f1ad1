/**
 * Every allocation sampled (those already collected included) until `stop`, which writes a .heapprofile that Chrome's
 * DevTools opens: where a process allocates, by call stack. Used by bench:reconcile and bench:e2e (BENCH_HEAP_PROF).
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

export async function sampleAllocations(): Promise<{ stop: (file: string) => Promise<void> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post("HeapProfiler.startSampling", {
    samplingInterval: 16 * 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop(file) {
      const { profile } = (await post("HeapProfiler.stopSampling")) as { profile: unknown };
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
