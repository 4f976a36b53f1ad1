import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const templateDirectory = fileURLToPath(new URL("../../templates/init/", import.meta.url));
const sourceDirectory = fileURLToPath(new URL("../../src/", import.meta.url));

/**
 * Copies the files of `templates/init/` named in `files` to `directory`, with their imports of "tenon",
 * "tenon/connectors/<name>" and "tenon/testing" pointing at this repository's sources: until Tenon is
 * installed as a package, that is how a test runs the scaffold's own code.
 */
export function copyTemplatesOntoSources(directory: string, files: string[]): void {
  for (const file of files) {
    const target = join(directory, file);
    cpSync(join(templateDirectory, file), target);
    const text = readFileSync(target, "utf8").replace(/from "tenon((?:\/[a-z-]+)*)"/g, (_match, subpath: string) => {
      return `from "${sourceModule(subpath)}"`;
    });
    writeFileSync(target, text);
  }
}

function sourceModule(subpath: string): string {
  if (subpath === "") return join(sourceDirectory, "index.ts");
  if (subpath === "/testing") return join(sourceDirectory, "testing/index.ts");
  const connector = /^\/connectors\/([a-z-]+)$/.exec(subpath);
  if (connector) return join(sourceDirectory, "connectors", connector[1] as string, "index.ts");
  throw new Error(`the template imports "tenon${subpath}", which this copy cannot map to a source file`);
}
