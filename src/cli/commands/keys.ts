import { describeDatabase, readSettings } from "../../config/settings.ts";
import {
  generateMasterKey,
  type Keyring,
  type KeyringLogger,
  loadKeyring,
  writeKeyFile,
} from "../../connections/vault/master-key.ts";
import {
  type RotationResult,
  rotateMasterKey,
  type SealedSecretStore,
} from "../../connections/vault/rotate-master-key.ts";
import { Vault } from "../../connections/vault/vault.ts";
import { openStorageFromSettings } from "../storage-from-settings.ts";

const logger: KeyringLogger = { warn: (_details, message) => console.error(`tenon: warning: ${message}`) };

/** `tenon keys generate`: prints a new master key and nothing else, so it can be piped into a secret store. */
export function generateKeyCommand(): void {
  console.log(generateMasterKey().key.toString("base64"));
}

/**
 * `tenon keys rotate`: rewraps every stored secret under a new master key while the engine keeps running.
 * With a key file the command makes the new key itself; with TENON_MASTER_KEY the operator has already
 * deployed the new key (and the old one in TENON_MASTER_KEY_PREVIOUS) to every process.
 */
export async function rotateKeysCommand(): Promise<void> {
  const settings = readSettings();
  const keyring = loadKeyring({ logger });
  const storage = await openStorageFromSettings(settings);
  try {
    await storage.migrate();
    if (keyring.source === "env") {
      const result = await rotateMasterKey(storage.connections, new Vault(keyring));
      console.log(describeRotation(result, keyring.current.id, describeDatabase(settings)));
      console.log("next: remove TENON_MASTER_KEY_PREVIOUS once every process runs with the new key");
      return;
    }
    const { result, keyId } = await rotateKeyFile(storage.connections, keyring);
    console.log(describeRotation(result, keyId, describeDatabase(settings)));
    console.log(
      `${keyring.filePath} now holds only the new key: back it up, the stored secrets cannot be read without it`,
    );
  } finally {
    await storage.close();
  }
}

async function rotateKeyFile(
  store: SealedSecretStore,
  keyring: Keyring & { filePath: string },
): Promise<{ result: RotationResult; keyId: string }> {
  const { filePath } = keyring;
  const next = generateMasterKey();
  const keys = { current: next, previous: [keyring.current, ...keyring.previous] };
  // Both keys first: a process that meets an envelope under the new key reloads the file and can open it,
  // and one that meets an old envelope still can too. An interrupted rotation keeps every key it started with.
  writeKeyFile(filePath, [keys.current, ...keys.previous]);
  const vault = new Vault(keys);
  const first = await rotateMasterKey(store, vault);
  writeKeyFile(filePath, [next]);
  // A process that had not reloaded yet may have sealed under the old key until now; this vault still holds it.
  const sweep = await rotateMasterKey(store, vault);
  return {
    result: { resealed: first.resealed + sweep.resealed, alreadyCurrent: first.alreadyCurrent },
    keyId: next.id,
  };
}

function describeRotation(result: RotationResult, keyId: string, database: string): string {
  return (
    `resealed ${result.resealed} secret(s) under master key ${keyId} in ${database}; ` +
    `${result.alreadyCurrent} already were`
  );
}
