import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateMasterKey, type MasterKey } from "../../../src/connections/vault/master-key.ts";
import { openVault } from "../../../src/connections/vault/open-vault.ts";
import { credentialsScope } from "../../../src/connections/vault/rotate-master-key.ts";
import { Vault, VaultError } from "../../../src/connections/vault/vault.ts";

const scope = credentialsScope("crm");
const secret = JSON.stringify({ clientId: "tenon", clientSecret: "s3cr3t-value", refreshToken: "rt-123" });

function vaultWith(current: MasterKey, ...previous: MasterKey[]): Vault {
  return new Vault({ current, previous });
}

type Envelope = { v: number; kid: string; dek: string; ct: string };

function edit(sealed: string, change: (envelope: Envelope) => void): string {
  const envelope = JSON.parse(sealed) as Envelope;
  change(envelope);
  return JSON.stringify(envelope);
}

function flipByte(base64: string, offset: number): string {
  const bytes = Buffer.from(base64, "base64");
  bytes[offset] = (bytes[offset] as number) ^ 0x01;
  return bytes.toString("base64");
}

function openFailure(vault: Vault, scopeUsed: string, sealed: string): VaultError {
  try {
    vault.open(scopeUsed, sealed);
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    const message = (error as VaultError).message;
    // The one thing an error about a secret must never do is show it.
    expect(message).not.toContain("s3cr3t-value");
    expect(message).not.toContain("rt-123");
    return error as VaultError;
  }
  throw new Error("the envelope opened, but it should not have");
}

describe("the vault", () => {
  const key = generateMasterKey();
  const vault = vaultWith(key);

  it("opens what it sealed, for the same scope", () => {
    expect(vault.open(scope, vault.seal(scope, secret))).toBe(secret);
  });

  it("keeps unicode, empty and large secrets intact", () => {
    const unicode = JSON.stringify({ token: "clé-🔑-密钥-ключ", note: "\u0000 and \uFFFF" });
    const large = `${"x".repeat(1024 * 1024)}🔑`;
    for (const plaintext of [unicode, "", large]) {
      expect(vault.open(scope, vault.seal(scope, plaintext))).toBe(plaintext);
    }
  });

  it("seals to compact JSON with the key id, and never the same envelope twice", () => {
    const first = vault.seal(scope, secret);
    const second = vault.seal(scope, secret);
    expect(first).not.toBe(second);
    const envelope = JSON.parse(first) as Envelope;
    expect(Object.keys(envelope)).toEqual(["v", "kid", "dek", "ct"]);
    expect(envelope.v).toBe(1);
    expect(envelope.kid).toBe(key.id);
    expect(first).not.toContain(" ");
    expect(first).not.toContain("s3cr3t");
    expect(vault.keyIdOf(first)).toBe(key.id);
    expect(vault.currentKeyId).toBe(key.id);
  });

  describe("refuses a tampered envelope", () => {
    const sealed = vault.seal(scope, secret);
    const tamperings: [string, () => string][] = [
      ["a byte of the ciphertext", () => edit(sealed, (e) => (e.ct = flipByte(e.ct, 30)))],
      ["a byte of the ciphertext's tag", () => edit(sealed, (e) => (e.ct = flipByte(e.ct, 14)))],
      ["a byte of the ciphertext's iv", () => edit(sealed, (e) => (e.ct = flipByte(e.ct, 0)))],
      ["a byte of the wrapped data key", () => edit(sealed, (e) => (e.dek = flipByte(e.dek, 40)))],
      ["a byte of the wrapped data key's tag", () => edit(sealed, (e) => (e.dek = flipByte(e.dek, 20)))],
      [
        "a truncated ciphertext",
        () => edit(sealed, (e) => (e.ct = Buffer.from(e.ct, "base64").subarray(0, 40).toString("base64"))),
      ],
      [
        "the ciphertext of another envelope",
        () => edit(sealed, (e) => (e.ct = (JSON.parse(vault.seal(scope, secret)) as Envelope).ct)),
      ],
    ];
    it.each(tamperings)("%s", (_what, tamper) => {
      expect(openFailure(vault, scope, tamper()).message).toContain(
        `the secret of ${scope} could not be decrypted: it was altered, belongs to another connection, or the master key is wrong`,
      );
    });

    it("an envelope moved to another connection", () => {
      const other = credentialsScope("accounting");
      expect(openFailure(vault, other, sealed).message).toContain("could not be decrypted");
      expect(() => vault.rewrap(other, sealed)).toThrow(VaultError);
    });

    it("a kid changed to another key the vault has", () => {
      const other = generateMasterKey();
      const both = vaultWith(key, other);
      expect(
        openFailure(
          both,
          scope,
          edit(sealed, (e) => (e.kid = other.id)),
        ).message,
      ).toContain("could not be decrypted");
    });

    it("a kid changed to a key the vault does not have", () => {
      const unknown = generateMasterKey().id;
      expect(
        openFailure(
          vault,
          scope,
          edit(sealed, (e) => (e.kid = unknown)),
        ).message,
      ).toBe(
        `the secret of ${scope} was sealed under master key ${unknown}, which this process does not have ` +
          `(current ${key.id}): set TENON_MASTER_KEY_PREVIOUS to the old key, or restore the key file`,
      );
    });

    it.each([
      ["not JSON", "{not json"],
      ["not an object", "42"],
      ["another version", edit(sealed, (e) => (e.v = 2))],
      ["no key id", edit(sealed, (e) => (e.kid = ""))],
      ["a data key of the wrong size", edit(sealed, (e) => (e.dek = e.dek.slice(0, 20)))],
      ["a ciphertext that is not base64", edit(sealed, (e) => (e.ct = "%%%"))],
    ])("a malformed envelope: %s", (_what, malformed) => {
      expect(openFailure(vault, scope, malformed).message).toMatch(/^the sealed secret of connection:crm is malformed/);
    });
  });

  it("cannot open with the wrong master key, and says so without showing either key", () => {
    const sealed = vault.seal(scope, secret);
    const stranger = vaultWith(generateMasterKey());
    const error = openFailure(stranger, scope, sealed);
    expect(error.message).toContain(`sealed under master key ${key.id}, which this process does not have`);
    expect(error.message).not.toContain(key.key.toString("base64"));

    // A key whose id collides by construction can only be the wrong key presented under the right id.
    const impostor = vaultWith({ id: key.id, key: generateMasterKey().key });
    expect(openFailure(impostor, scope, sealed).message).toContain("could not be decrypted");
  });

  it("rewraps under the current key without touching the ciphertext; older keys still open older envelopes", () => {
    const old = vaultWith(key);
    const sealed = old.seal(scope, secret);
    const next = generateMasterKey();
    const rotating = vaultWith(next, key);
    expect(rotating.open(scope, sealed)).toBe(secret);

    const rewrapped = rotating.rewrap(scope, sealed);
    expect(rotating.keyIdOf(rewrapped)).toBe(next.id);
    expect((JSON.parse(rewrapped) as Envelope).ct).toBe((JSON.parse(sealed) as Envelope).ct);
    expect((JSON.parse(rewrapped) as Envelope).dek).not.toBe((JSON.parse(sealed) as Envelope).dek);
    expect(vaultWith(next).open(scope, rewrapped)).toBe(secret);
    expect(() => old.open(scope, rewrapped)).toThrow(VaultError);
  });

  it("does not rewrap a damaged envelope", () => {
    const rotating = vaultWith(generateMasterKey(), key);
    const damaged = edit(vault.seal(scope, secret), (e) => (e.ct = flipByte(e.ct, 30)));
    expect(() => rotating.rewrap(scope, damaged)).toThrow(/could not be decrypted/);
  });
});

describe("a running process and a rotated key file", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function keyFile(...keys: MasterKey[]): { path: string; env: Record<string, string> } {
    dir ??= mkdtempSync(join(tmpdir(), "tenon-vault-"));
    const path = join(dir, "master.key");
    writeFileSync(path, `${keys.map((key) => key.key.toString("base64")).join("\n")}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return { path, env: { TENON_MASTER_KEY_FILE: path } };
  }

  it("reloads the file when it meets a newer key, then seals under it and still opens the old one", () => {
    const old = generateMasterKey();
    const next = generateMasterKey();
    const { env } = keyFile(old);
    const running = openVault({ env });
    const beforeRotation = running.seal(scope, "sealed before");

    keyFile(next, old);
    const rotated = vaultWith(next).seal(scope, "sealed by the rotation");
    expect(running.open(scope, rotated)).toBe("sealed by the rotation");
    expect(running.currentKeyId).toBe(next.id);
    expect(running.keyIdOf(running.seal(scope, secret))).toBe(next.id);

    keyFile(next);
    expect(running.open(scope, beforeRotation)).toBe("sealed before");
  });

  it("still fails with the unknown-key error when the reloaded file does not have the key either", () => {
    const { env } = keyFile(generateMasterKey());
    const running = openVault({ env });
    const foreign = vaultWith(generateMasterKey()).seal(scope, secret);
    expect(openFailure(running, scope, foreign).message).toContain("which this process does not have");
  });

  it("reloads once for a key it lacks, not on every open; without reload it fails", () => {
    const old = generateMasterKey();
    const next = generateMasterKey();
    let reloads = 0;
    const withReload = new Vault(
      { current: old, previous: [] },
      {
        reload: () => {
          reloads++;
          return { current: next, previous: [old] };
        },
      },
    );
    const sealed = vaultWith(next).seal(scope, secret);
    expect(withReload.open(scope, sealed)).toBe(secret);
    expect(withReload.open(scope, sealed)).toBe(secret);
    expect(reloads).toBe(1);
    expect(() => vaultWith(old).open(scope, sealed)).toThrow(VaultError);
  });
});
