import { renameSync, writeFileSync } from "node:fs";

/**
 * Writes `environment` to `path` in dotenv form (`NAME=value`, one a line), for `node --env-file`,
 * dotenv, docker's `--env-file` or `set -a; . file`. The file holds credentials, so only its owner may
 * read it; it is written beside its final name and renamed, so a script waiting for it never reads half.
 */
export function writeDotenvFile(path: string, environment: Record<string, string>): void {
  const text = Object.entries(environment)
    .map(([name, value]) => `${name}=${dotenvValue(name, value)}`)
    .join("\n");
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, `${text}\n`, { mode: 0o600 });
  renameSync(partial, path);
}

/**
 * A value as dotenv readers and POSIX shells both read it back: bare when it holds nothing either
 * would interpret (`#` starts a comment, `&` and `$` mean something to a shell), else single-quoted,
 * which both read literally. Neither can quote a single quote or a line break the same way, so such
 * a value is refused rather than written wrong; the sandbox's credentials (hex, base64, URLs) never hold one.
 */
export function dotenvValue(name: string, value: string): string {
  if (/^[\w.,:/@+=%-]*$/.test(value)) return value;
  if (!/['\n\r]/.test(value)) return `'${value}'`;
  throw new Error(`${name} holds a quote or a line break, which dotenv files and shells do not read back alike`);
}
