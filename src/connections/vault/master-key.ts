import { createHmac, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigurationError } from "../../sdk/errors.ts";

/**
 * The master keys that wrap the vault's data keys, and where they come from: `TENON_MASTER_KEY` (production),
 * a key file (`TENON_MASTER_KEY_FILE`), or a development key generated into `.tenon/master.key`.
 */

export interface MasterKey {
  /** Derived from the key, safe to log and to store beside ciphertext; never the key itself. */
  id: string;
  key: Buffer;
}

export type Keyring = {
  /** Seals everything new. */
  current: MasterKey;
  /** Still open envelopes sealed before a rotation; never used to seal. */
  previous: MasterKey[];
} & (
  | { source: "env"; filePath?: undefined }
  /** "generated": no key was configured or found, so this call created the development key file. */
  | { source: "file" | "generated"; filePath: string }
);

export interface KeyringLogger {
  warn(obj: object, msg: string): void;
}

export interface LoadKeyringOptions {
  env?: Record<string, string | undefined>;
  /** Where `.tenon/` lives and relative key file paths start. */
  cwd?: string;
  logger?: KeyringLogger;
}

const masterKeyBytes = 32;
const developmentKeyFile = ".tenon/master.key";

/** Finds the master keys; throws a ConfigurationError naming the variable or file at fault, never its value. */
export function loadKeyring(options: LoadKeyringOptions = {}): Keyring {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const fromEnv = variable(env, "TENON_MASTER_KEY");
  const previousFromEnv = variable(env, "TENON_MASTER_KEY_PREVIOUS");
  if (fromEnv !== undefined) {
    const previous = (previousFromEnv ?? "")
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0)
      .map((entry, index) => parseMasterKey(entry, `TENON_MASTER_KEY_PREVIOUS (entry ${index + 1})`));
    return { ...keyringOf(parseMasterKey(fromEnv, "TENON_MASTER_KEY"), previous), source: "env" };
  }
  if (previousFromEnv !== undefined) {
    // Alone it would be silently ignored, and the secrets it should open would look lost.
    throw new ConfigurationError(
      "TENON_MASTER_KEY_PREVIOUS is set but TENON_MASTER_KEY is not: set TENON_MASTER_KEY to the current key too",
    );
  }
  const configuredFile = variable(env, "TENON_MASTER_KEY_FILE");
  if (configuredFile !== undefined) {
    const path = resolve(cwd, configuredFile);
    if (!existsSync(path)) {
      throw new ConfigurationError(`TENON_MASTER_KEY_FILE names ${path}, which does not exist`);
    }
    return readKeyFile(path, options.logger);
  }
  const path = resolve(cwd, developmentKeyFile);
  if (existsSync(path)) return readKeyFile(path, options.logger);
  if (variable(env, "NODE_ENV") === "production") {
    throw new ConfigurationError(
      "no master key: set TENON_MASTER_KEY (create one with `tenon keys generate`) or TENON_MASTER_KEY_FILE; " +
        "with NODE_ENV=production Tenon does not generate a development key",
    );
  }
  return generateDevelopmentKey(path, options.logger);
}

/** A fresh random master key; `key.toString("base64")` is what `TENON_MASTER_KEY` and key files hold. */
export function generateMasterKey(): MasterKey {
  return toMasterKey(randomBytes(masterKeyBytes));
}

export function masterKeyId(key: Buffer): string {
  return createHmac("sha256", key).update("tenon master key id").digest("hex").slice(0, 16);
}

function toMasterKey(key: Buffer): MasterKey {
  return { id: masterKeyId(key), key };
}

/** Parses one base64 key; `origin` names where it came from, since the message must never show the value. */
function parseMasterKey(text: string, origin: string): MasterKey {
  const value = text.trim();
  const key = Buffer.from(value, "base64");
  const canonical = key.toString("base64").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || canonical !== value.replace(/=+$/, "")) {
    throw new ConfigurationError(
      `${origin} is not valid base64; it must be a base64-encoded ${masterKeyBytes}-byte key (create one with \`tenon keys generate\`)`,
    );
  }
  if (key.length !== masterKeyBytes) {
    throw new ConfigurationError(
      `${origin} decodes to ${key.length} bytes; a master key is exactly ${masterKeyBytes} bytes, base64-encoded (create one with \`tenon keys generate\`)`,
    );
  }
  return toMasterKey(key);
}

/**
 * Replaces the key file with these keys (the first is current) atomically and with mode 0600: a reader sees
 * the old file or the new one, never a half-written key, and a crash cannot leave the keys lost.
 */
export function writeKeyFile(path: string, keys: readonly MasterKey[]): void {
  const temporary = writeTemporaryKeyFile(path, keys);
  try {
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

function generateDevelopmentKey(path: string, logger: KeyringLogger | undefined): Keyring {
  const key = generateMasterKey();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = writeTemporaryKeyFile(path, [key]);
  try {
    // link, not rename: it fails if another process created the file meanwhile, and then theirs is the key to
    // use. Overwriting it would lose whatever they already sealed under it.
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readKeyFile(path, logger);
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
  syncDirectory(dirname(path));
  logger?.warn(
    { path },
    `generated a development master key at ${path}: back it up, since the stored credentials cannot be read without it; ` +
      "in production set TENON_MASTER_KEY (create one with `tenon keys generate`)",
  );
  return { ...keyringOf(key, []), source: "generated", filePath: path };
}

/** Reads a key file: one base64 key per line, the current one first. */
export function readKeyFile(path: string, logger?: KeyringLogger): Keyring {
  warnIfShared(path, logger);
  const lines = readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((line, index) => ({ text: line.trim(), number: index + 1 }))
    .filter((line) => line.text.length > 0);
  const [current, ...previous] = lines.map((line) => parseMasterKey(line.text, `line ${line.number} of ${path}`));
  if (current === undefined) {
    throw new ConfigurationError(
      `the master key file ${path} is empty; it must hold a base64 key per line, the current one first`,
    );
  }
  return { ...keyringOf(current, previous), source: "file", filePath: path };
}

function keyringOf(current: MasterKey, previous: MasterKey[]): { current: MasterKey; previous: MasterKey[] } {
  // A key listed twice (or the current one again among the previous) would only be tried twice.
  const distinct = new Map(previous.filter((key) => key.id !== current.id).map((key) => [key.id, key]));
  return { current, previous: [...distinct.values()] };
}

function writeTemporaryKeyFile(path: string, keys: readonly MasterKey[]): string {
  const temporary = join(dirname(path), `.master-key-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, `${keys.map((key) => key.key.toString("base64")).join("\n")}\n`);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  return temporary;
}

/** The new directory entry must survive a power cut too, or the key that sealed everything could vanish. */
function syncDirectory(directory: string): void {
  if (process.platform === "win32") return;
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function warnIfShared(path: string, logger: KeyringLogger | undefined): void {
  if (!logger || process.platform === "win32") return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  logger.warn(
    { path, mode: mode.toString(8) },
    `the master key file ${path} is readable by other users (mode ${mode.toString(8)}); run chmod 600 on it`,
  );
}

/** An empty variable counts as unset, as in settings.ts. */
function variable(env: Record<string, string | undefined>, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}
