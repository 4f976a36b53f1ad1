import { existsSync, type FSWatcher, readdirSync, statSync, watch } from "node:fs";
import { basename, join, relative, sep } from "node:path";

export interface ProjectWatcher {
  close(): void;
}

export interface WatchProjectOptions {
  /** Called once a burst of saves has been quiet for `debounceMs`, with the changed paths relative to `root`. */
  onChange: (changed: string[]) => void;
  /** Files the running engine writes (its database, its log): never a reason to reload. */
  ignoredPrefixes?: string[];
  debounceMs?: number;
}

const ignoredDirectories = new Set(["node_modules", ".git", ".tenon", "dist"]);
/** Emacs lock files (.#x), backups (x~), vim swap files and its write probe (4913), temp and Finder files. */
const editorTempFile = /^\.#|~$|\.sw[a-p]x?$|^4913$|\.tmp$|^\.DS_Store$/;

/**
 * Watches `root` and every directory under it except node_modules, .git, .tenon and dist, and reports
 * each burst of changes once. One non-recursive `fs.watch` per directory, not `{ recursive: true }`:
 * on Linux, Node 20 implements that by walking the whole tree and watching every file in it,
 * node_modules included, with no way to leave a directory out.
 */
export function watchProject(root: string, options: WatchProjectOptions): ProjectWatcher {
  const watchers = new Map<string, FSWatcher>();
  const changed = new Set<string>();
  /** The files there were after the last burst: one written and removed within a burst (a tool's temp file) is no change. */
  const existing = new Set<string>();
  const ignoredPrefixes = options.ignoredPrefixes ?? [];
  let timer: NodeJS.Timeout | undefined;

  const ignored = (path: string) =>
    editorTempFile.test(basename(path)) ||
    ignoredPrefixes.some((prefix) => path.startsWith(prefix)) ||
    relative(root, path)
      .split(sep)
      .some((segment) => ignoredDirectories.has(segment));

  const flush = () => {
    const paths = [...changed].filter((path) => {
      const exists = existsSync(path);
      const counts = exists || existing.has(path);
      if (exists) existing.add(path);
      else existing.delete(path);
      return counts;
    });
    changed.clear();
    if (paths.length > 0) options.onChange(paths.map((path) => relative(root, path)).sort());
  };

  const record = (path: string) => {
    changed.add(path);
    clearTimeout(timer);
    timer = setTimeout(flush, options.debounceMs ?? 150);
  };

  /** `appeared`: created while watching, so the files already in it are changes too (a copy, a checkout). */
  const watchDirectory = (directory: string, appeared: boolean) => {
    if (watchers.has(directory) || ignored(directory)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(directory, (_event, name) => {
        // A deleted directory says so to its own watcher too; its parent reports the deletion.
        if (!existsSync(directory)) return unwatch(directory);
        const path = name ? join(directory, name.toString()) : directory;
        if (ignored(path)) return;
        if (isDirectory(path)) watchDirectory(path, true);
        else record(path);
      });
    } catch {
      return;
    }
    watcher.on("error", () => unwatch(directory));
    watchers.set(directory, watcher);
    try {
      for (const entry of readdirSync(directory, { withFileTypes: true })) {
        const path = join(directory, entry.name);
        if (entry.isDirectory()) watchDirectory(path, appeared);
        else if (ignored(path)) continue;
        else if (appeared) record(path);
        else existing.add(path);
      }
    } catch {
      unwatch(directory);
    }
  };

  const unwatch = (directory: string) => {
    watchers.get(directory)?.close();
    watchers.delete(directory);
  };

  watchDirectory(root, false);
  return {
    close() {
      clearTimeout(timer);
      for (const directory of [...watchers.keys()]) unwatch(directory);
    },
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
