#!/usr/bin/env node
// Tenon ships TypeScript sources: tsx compiles them on load, so there is no build step.
//
// The JavaScript dependencies are imported before tsx registers its hooks. After that, every import
// is resolved and loaded through tsx's loader thread, one message round trip each: kysely is ~280
// modules, zod ~95, uuid ~20. On an idle machine a round trip costs about a millisecond; on a busy
// one each waits for the other thread to be scheduled, and start-up took seconds. Imported first,
// they load at Node's own speed and are cached when the TypeScript sources ask for them.
// (`npm run bench:startup` measures this.)
// Not pg: only a process on PostgreSQL loads it (see src/storage/open-storage.ts), and as a CommonJS package
// it costs a round trip or two, not one per module.
const storageDependencies = ["commander", "kysely", "better-sqlite3"];
// What the engine adds: loaded by every command that runs it or loads a tenon.config.ts.
const engineDependencies = ["pino", "croner", "uuid", "zod", "qs", "fastify", "undici", "oauth4webapi"];
// These only read or write storage; `tenon runs` in a script loop should not pay for a web server.
const storageOnlyCommands = new Set(["runs", "migrate", "keys"]);

const dependencies = storageOnlyCommands.has(process.argv[2] ?? "")
  ? storageDependencies
  : [...storageDependencies, ...engineDependencies];
await Promise.all(dependencies.map((name) => import(name)));

const { register } = await import("tsx/esm/api");
register();
await import("../src/cli/main.ts");
