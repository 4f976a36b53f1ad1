#!/usr/bin/env node
// Tenon ships TypeScript sources: tsx compiles them on load, so there is no build step.
//
// The large JavaScript dependencies are imported before tsx registers its hooks:
// every module loaded after that goes through tsx's loader thread (about 2 ms each
// on a small VM), and kysely alone is ~280 modules. Imported first, they load at
// Node's own speed and are already cached when the TypeScript sources ask for them.
// This keeps `tenon start` under its 1 s cold-start budget.
await Promise.all(["kysely", "better-sqlite3", "pg", "pino", "croner", "commander"].map((name) => import(name)));

const { register } = await import("tsx/esm/api");
register();
await import("../src/cli/main.ts");
