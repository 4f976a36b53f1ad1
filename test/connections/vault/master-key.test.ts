import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  generateMasterKey,
  loadKeyring,
  masterKeyId,
  writeKeyFile,
} from "../../../src/connections/vault/master-key.ts";
import { ConfigurationError } from "../../../src/sdk/errors.ts";

function recordingLogger() {
  const warnings: { obj: object; msg: string }[] = [];
  return { warnings, warn: (obj: object, msg: string) => warnings.push({ obj, msg }) };
}

function base64Key(): string {
  return generateMasterKey().key.toString("base64");
}

function configurationError(load: () => unknown): ConfigurationError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error("the keyring loaded, but it should not have");
}

describe("loading the master keys", () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-keys-"));
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  describe("from TENON_MASTER_KEY", () => {
    it("uses it as the current key and TENON_MASTER_KEY_PREVIOUS as older keys; ids never show the key", () => {
      const [current, old1, old2] = [base64Key(), base64Key(), base64Key()];
      const keyring = loadKeyring({
        cwd,
        env: { TENON_MASTER_KEY: current, TENON_MASTER_KEY_PREVIOUS: ` ${old1}, ${old2} ,` },
      });
      expect(keyring.source).toBe("env");
      expect(keyring.filePath).toBeUndefined();
      expect(keyring.current.key.toString("base64")).toBe(current);
      expect(keyring.previous.map((key) => key.key.toString("base64"))).toEqual([old1, old2]);
      expect(keyring.current.id).toMatch(/^[0-9a-f]{16}$/);
      expect(keyring.current.id).toBe(masterKeyId(Buffer.from(current, "base64")));
      expect(keyring.current.key.toString("hex")).not.toContain(keyring.current.id);
      expect(existsSync(join(cwd, ".tenon"))).toBe(false);
    });

    it("takes precedence over a key file", () => {
      const fromEnv = base64Key();
      writeFileSync(join(cwd, "other.key"), `${base64Key()}\n`, { mode: 0o600 });
      const keyring = loadKeyring({ cwd, env: { TENON_MASTER_KEY: fromEnv, TENON_MASTER_KEY_FILE: "other.key" } });
      expect(keyring.current.key.toString("base64")).toBe(fromEnv);
    });

    const shortKey = randomBytes(16).toString("base64");
    it.each([
      ["TENON_MASTER_KEY", { TENON_MASTER_KEY: "not base64 at all!" }, "not base64 at all!", /not valid base64/],
      ["TENON_MASTER_KEY", { TENON_MASTER_KEY: shortKey }, shortKey, /decodes to 16 bytes; a master key is exactly 32/],
      [
        "TENON_MASTER_KEY_PREVIOUS (entry 2)",
        { TENON_MASTER_KEY: base64Key(), TENON_MASTER_KEY_PREVIOUS: `${base64Key()},${shortKey}` },
        shortKey,
        /decodes to 16 bytes/,
      ],
    ])("a bad value names %s and never shows the value", (name, env, value, reason) => {
      const error = configurationError(() => loadKeyring({ cwd, env }));
      expect(error.message).toContain(name);
      expect(error.message).toMatch(reason);
      expect(error.message).toContain("tenon keys generate");
      expect(error.message).not.toContain(value);
    });

    it("refuses TENON_MASTER_KEY_PREVIOUS without TENON_MASTER_KEY", () => {
      const error = configurationError(() => loadKeyring({ cwd, env: { TENON_MASTER_KEY_PREVIOUS: base64Key() } }));
      expect(error.message).toContain("TENON_MASTER_KEY_PREVIOUS is set but TENON_MASTER_KEY is not");
    });
  });

  describe("from TENON_MASTER_KEY_FILE", () => {
    it("reads one key per line, the first current and the rest previous, relative to the working directory", () => {
      const [current, old] = [base64Key(), base64Key()];
      mkdirSync(join(cwd, "secrets"));
      writeFileSync(join(cwd, "secrets/master.key"), `${current}\r\n\n${old}\n`, { mode: 0o600 });
      const logger = recordingLogger();
      const keyring = loadKeyring({ cwd, env: { TENON_MASTER_KEY_FILE: "secrets/master.key" }, logger });
      expect(keyring.source).toBe("file");
      expect(keyring.filePath).toBe(join(cwd, "secrets/master.key"));
      expect(keyring.current.key.toString("base64")).toBe(current);
      expect(keyring.previous.map((key) => key.key.toString("base64"))).toEqual([old]);
      expect(logger.warnings).toEqual([]);
    });

    it("names the file and the line of a bad key without showing it", () => {
      const bad = randomBytes(31).toString("base64");
      writeFileSync(join(cwd, "master.key"), `${base64Key()}\n${bad}\n`, { mode: 0o600 });
      const error = configurationError(() => loadKeyring({ cwd, env: { TENON_MASTER_KEY_FILE: "master.key" } }));
      expect(error.message).toContain(`line 2 of ${join(cwd, "master.key")}`);
      expect(error.message).not.toContain(bad);
    });

    it("refuses a missing or empty file", () => {
      expect(
        configurationError(() => loadKeyring({ cwd, env: { TENON_MASTER_KEY_FILE: "nope.key" } })).message,
      ).toContain("TENON_MASTER_KEY_FILE names");
      writeFileSync(join(cwd, "empty.key"), "\n", { mode: 0o600 });
      expect(
        configurationError(() => loadKeyring({ cwd, env: { TENON_MASTER_KEY_FILE: "empty.key" } })).message,
      ).toContain("is empty");
    });

    it("warns when other users can read the file", () => {
      writeFileSync(join(cwd, "master.key"), `${base64Key()}\n`);
      chmodSync(join(cwd, "master.key"), 0o644);
      const logger = recordingLogger();
      loadKeyring({ cwd, env: { TENON_MASTER_KEY_FILE: "master.key" }, logger });
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]?.msg).toContain("readable by other users (mode 644); run chmod 600");
    });
  });

  describe("in development, with no key configured", () => {
    it("generates .tenon/master.key with mode 0600, warns once, and reuses it afterwards", () => {
      const logger = recordingLogger();
      const generated = loadKeyring({ cwd, env: {}, logger });
      const path = join(cwd, ".tenon/master.key");
      expect(generated.source).toBe("generated");
      expect(generated.filePath).toBe(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, "utf8")).toBe(`${generated.current.key.toString("base64")}\n`);
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]?.msg).toContain("development master key");
      expect(logger.warnings[0]?.msg).toContain("back it up");
      expect(logger.warnings[0]?.msg).toContain("TENON_MASTER_KEY");
      expect(logger.warnings[0]?.msg).not.toContain(generated.current.key.toString("base64"));

      const again = loadKeyring({ cwd, env: {}, logger });
      expect(again.source).toBe("file");
      expect(again.current.id).toBe(generated.current.id);
      expect(logger.warnings).toHaveLength(1);
    });

    it("refuses to generate a key when NODE_ENV=production", () => {
      const error = configurationError(() => loadKeyring({ cwd, env: { NODE_ENV: "production" } }));
      expect(error.message).toContain("set TENON_MASTER_KEY");
      expect(error.message).toContain("NODE_ENV=production");
      expect(existsSync(join(cwd, ".tenon/master.key"))).toBe(false);
    });

    it("uses an existing development key even in production", () => {
      const generated = loadKeyring({ cwd, env: {} });
      expect(loadKeyring({ cwd, env: { NODE_ENV: "production" } }).current.id).toBe(generated.current.id);
    });
  });

  it("rewrites a key file whole, with mode 0600, leaving no temporary file behind", () => {
    const path = join(cwd, "master.key");
    writeFileSync(path, "old contents\n");
    chmodSync(path, 0o644);
    const [a, b] = [generateMasterKey(), generateMasterKey()];
    writeKeyFile(path, [a, b]);
    expect(readFileSync(path, "utf8")).toBe(`${a.key.toString("base64")}\n${b.key.toString("base64")}\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const keyring = loadKeyring({ cwd, env: { TENON_MASTER_KEY_FILE: path } });
    expect([keyring.current.id, ...keyring.previous.map((key) => key.id)]).toEqual([a.id, b.id]);
    expect(readdirSync(cwd)).toEqual(["master.key"]);
  });
});
