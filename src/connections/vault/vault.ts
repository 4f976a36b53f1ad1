import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Keyring, MasterKey } from "./master-key.ts";

/**
 * Envelope encryption of the secrets Tenon stores (credentials, OAuth verifiers). Each seal draws a fresh
 * data key that encrypts the secret; the master key only wraps that data key, so a master-key rotation
 * rewrites a few bytes per secret and never touches the ciphertext. Both layers are AES-256-GCM with the
 * scope (`connection:crm`) as associated data: an envelope copied to another connection does not open.
 *
 * The envelope is compact JSON text: `{"v":1,"kid":…,"dek":base64(iv|tag|wrapped key),"ct":base64(iv|tag|ciphertext)}`.
 */

/** A sealed secret that cannot be opened: the message says why and what to do, and never shows key or secret bytes. */
export class VaultError extends Error {
  override readonly name = "VaultError";
}

export type VaultKeys = Pick<Keyring, "current" | "previous">;

export interface VaultOptions {
  /**
   * Reads the keys again, tried once when an envelope names a key this process does not have: a process
   * started before a rotation picks up the rotated key file (and seals under its new key from then on).
   */
  reload?: () => VaultKeys;
}

const version = 1;
const ivBytes = 12;
const tagBytes = 16;
const dataKeyBytes = 32;
const wrappedKeyBytes = ivBytes + tagBytes + dataKeyBytes;

interface Envelope {
  v: typeof version;
  kid: string;
  dek: string;
  ct: string;
}

export class Vault {
  private keys: VaultKeys;
  private byId: Map<string, MasterKey>;
  private readonly reload: (() => VaultKeys) | undefined;

  constructor(keys: VaultKeys, options: VaultOptions = {}) {
    this.keys = keys;
    this.byId = indexKeys(keys);
    this.reload = options.reload;
  }

  /** The id of the master key new envelopes are sealed under. */
  get currentKeyId(): string {
    return this.keys.current.id;
  }

  /** Encrypts `plaintext` for `scope` (see `credentialsScope`); callers JSON-encode structured secrets. */
  seal(scope: string, plaintext: string): string {
    const dataKey = randomBytes(dataKeyBytes);
    try {
      const ct = encrypt(dataKey, dataAad(scope), Buffer.from(plaintext, "utf8"));
      return this.envelopeUnderCurrentKey(scope, dataKey, ct.toString("base64"));
    } finally {
      dataKey.fill(0);
    }
  }

  /** Decrypts an envelope sealed for `scope`; throws a VaultError if it cannot. */
  open(scope: string, sealed: string): string {
    const envelope = parseEnvelope(sealed, scope);
    const dataKey = this.unwrapDataKey(scope, envelope);
    try {
      return decrypt(dataKey, dataAad(scope), Buffer.from(envelope.ct, "base64"), scope).toString("utf8");
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * The same secret with its data key wrapped under the current master key; the ciphertext is kept as is.
   * Both layers are checked first, so a rotation reports a damaged secret instead of carrying it forward.
   */
  rewrap(scope: string, sealed: string): string {
    const envelope = parseEnvelope(sealed, scope);
    const dataKey = this.unwrapDataKey(scope, envelope);
    try {
      decrypt(dataKey, dataAad(scope), Buffer.from(envelope.ct, "base64"), scope).fill(0);
      return this.envelopeUnderCurrentKey(scope, dataKey, envelope.ct);
    } finally {
      dataKey.fill(0);
    }
  }

  /** The id of the master key an envelope is sealed under. */
  keyIdOf(sealed: string): string {
    return parseEnvelope(sealed, undefined).kid;
  }

  private envelopeUnderCurrentKey(scope: string, dataKey: Buffer, ct: string): string {
    const { current } = this.keys;
    const dek = encrypt(current.key, dataKeyAad(scope), dataKey).toString("base64");
    const envelope: Envelope = { v: version, kid: current.id, dek, ct };
    return JSON.stringify(envelope);
  }

  private unwrapDataKey(scope: string, envelope: Envelope): Buffer {
    const masterKey = this.masterKeyFor(envelope.kid, scope);
    return decrypt(masterKey.key, dataKeyAad(scope), Buffer.from(envelope.dek, "base64"), scope);
  }

  private masterKeyFor(kid: string, scope: string): MasterKey {
    const known = this.byId.get(kid);
    if (known) return known;
    if (this.reload) {
      const fresh = this.reload();
      // Keys this process already had stay usable: another process that has not reloaded yet may still
      // seal under one of them after the file dropped it.
      const kept = [this.keys.current, ...this.keys.previous].filter((key) => key.id !== fresh.current.id);
      this.keys = { current: fresh.current, previous: [...fresh.previous, ...kept] };
      this.byId = indexKeys(this.keys);
      const reloaded = this.byId.get(kid);
      if (reloaded) return reloaded;
    }
    throw new VaultError(
      `the secret of ${scope} was sealed under master key ${kid}, which this process does not have ` +
        `(current ${this.keys.current.id}): set TENON_MASTER_KEY_PREVIOUS to the old key, or restore the key file`,
    );
  }
}

function indexKeys(keys: VaultKeys): Map<string, MasterKey> {
  return new Map([keys.current, ...keys.previous].map((key) => [key.id, key]));
}

// Distinct labels per layer: a wrapped data key can never be mistaken for a secret's ciphertext, or the reverse.
function dataKeyAad(scope: string): Buffer {
  return Buffer.from(`tenon:dek:v${version}:${scope}`, "utf8");
}

function dataAad(scope: string): Buffer {
  return Buffer.from(`tenon:data:v${version}:${scope}`, "utf8");
}

/** iv | tag | ciphertext */
function encrypt(key: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: tagBytes });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

function decrypt(key: Buffer, aad: Buffer, sealed: Buffer, scope: string): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, ivBytes), { authTagLength: tagBytes });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(ivBytes, ivBytes + tagBytes));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(ivBytes + tagBytes)), decipher.final()]);
  } catch {
    throw new VaultError(
      `the secret of ${scope} could not be decrypted: it was altered, belongs to another connection, or the master key is wrong`,
    );
  }
}

function parseEnvelope(sealed: string, scope: string | undefined): Envelope {
  const malformed = (detail: string) =>
    new VaultError(
      `the sealed secret${scope === undefined ? "" : ` of ${scope}`} is malformed (${detail}): ` +
        "it was not written by Tenon's vault or was damaged; store the secret again",
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(sealed);
  } catch {
    throw malformed("not JSON");
  }
  if (typeof parsed !== "object" || parsed === null) throw malformed("not a JSON object");
  const { v, kid, dek, ct } = parsed as Record<string, unknown>;
  if (v !== version) throw malformed(`version is not ${version}`);
  if (typeof kid !== "string" || !/^[0-9a-f]{16}$/.test(kid)) throw malformed("no valid key id");
  if (!isBase64(dek) || Buffer.from(dek, "base64").length !== wrappedKeyBytes) throw malformed("no valid data key");
  if (!isBase64(ct) || Buffer.from(ct, "base64").length < ivBytes + tagBytes) throw malformed("no valid ciphertext");
  return { v, kid, dek, ct };
}

function isBase64(value: unknown): value is string {
  return typeof value === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(value);
}
