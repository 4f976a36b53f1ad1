/**
 * `wanted` lines missing from a .gitignore's `text`, compared as patterns: `node_modules`, `/node_modules`
 * and `node_modules/` count as the same.
 */
export function missingGitignoreLines(text: string, wanted: string[]): string[] {
  const pattern = (line: string) => line.trim().replace(/^\//, "").replace(/\/$/, "");
  const present = new Set(text.split(/\r?\n/).map(pattern));
  return wanted.filter((line) => !present.has(pattern(line)));
}
