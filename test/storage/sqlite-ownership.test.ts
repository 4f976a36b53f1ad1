import { afterEach, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ConfigurationError } from "../../src/sdk/errors.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { spawnWorker, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { sqliteBackend, type TestDatabase } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";

const noop = defineIntegration({ id: "noop", trigger: { event: "noop" }, run: () => {} });
let db: TestDatabase | undefined;
let worker: WorkerProcess | undefined;
const opened: Storage[] = [];

afterEach(async () => {
  await worker?.kill9();
  for (const storage of opened.splice(0)) await storage.close();
  await db?.cleanup();
});

function open(): Storage {
  const storage = (db as TestDatabase).open();
  opened.push(storage);
  return storage;
}

it("one process owns a SQLite file's worker: a second is refused with a clear error, readers are not, and a killed owner frees the file", async () => {
  db = sqliteBackend.create();
  worker = spawnWorker({ ...db.env, EXECUTION_LOG: "/dev/null" });
  await worker.waitForLine("READY");

  const second = testEngine({ storage: open(), integrations: [noop] });
  const refusal = await second.start().catch((error: unknown) => error);
  expect(refusal).toBeInstanceOf(ConfigurationError);
  expect((refusal as Error).message).toMatch(/another live process runs a Tenon worker on .*tenon\.db/);
  expect((refusal as Error).message).toMatch(/use PostgreSQL \(TENON_DATABASE_URL\) to run several workers/);

  // Reading and sending (what `tenon runs` and `tenon replay` do) need no ownership.
  const reader = testEngine({ storage: open(), integrations: [noop], worker: false });
  await reader.start();
  const { runIds } = await reader.send({ type: "noop", payload: {} });
  expect(await reader.storage.getRun(runIds[0] as string)).toMatchObject({ integrationId: "noop" });

  // The operating system drops the lock with its holder, however it exits.
  await worker.kill9();
  const successor = testEngine({ storage: open(), integrations: [noop] });
  await successor.start();
  await successor.stop();
});
