#!/usr/bin/env node
// Tenon ships TypeScript sources: tsx compiles them on load, so there is no build step.
//
// The JavaScript dependencies are imported before tsx registers its hooks. On Node 20 those hooks run on
// a loader thread, and every import after they register is resolved and loaded there, a round trip each:
// kysely is ~280 modules, zod ~95, uuid ~20. Imported first, they load at Node's own speed and are cached
// when the TypeScript sources ask for them: `tenon start` makes 368 round trips instead of 767. That counts
// most on a busy machine, where each one waits for the other thread to be scheduled
// (`npm run bench:startup` measures start-up).
// Not pg: only a process on PostgreSQL loads it (see src/storage/open-storage.ts), and as a CommonJS package
// it costs a few round trips, not one per module.
const storageDependencies = ["commander", "kysely", "better-sqlite3"];
// What the engine adds: loaded by every command that runs it or loads a tenon.config.ts.
const engineDependencies = ["pino", "croner", "uuid", "zod", "qs", "fastify", "undici", "oauth4webapi"];
// These only read or write storage; `tenon runs` in a script loop should not pay for a web server.
const storageOnlyCommands = new Set(["runs", "events", "migrate", "keys", "backup"]);

const dependencies = storageOnlyCommands.has(process.argv[2] ?? "")
  ? storageDependencies
  : [...storageDependencies, ...engineDependencies];
await Promise.all(dependencies.map((name) => import(name)));

const { register } = await import("tsx/esm/api");
register();
await import("../src/cli/main.ts");
