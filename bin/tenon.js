#!/usr/bin/env node
// The compiled CLI (`npm run build` writes dist/; `npm ci` and `npm pack` run it through `prepare`).
// Tenon itself needs no TypeScript loader; the CLI registers tsx only to load a project's tenon.config.ts.
await import("../dist/cli/main.js");
