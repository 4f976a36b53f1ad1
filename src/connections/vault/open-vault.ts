import { type LoadKeyringOptions, loadKeyring, readKeyFile } from "./master-key.ts";
import { Vault } from "./vault.ts";

/** The vault of a running process: its keys from the environment or the key file (see master-key.ts). */
export function openVault(options: LoadKeyringOptions = {}): Vault {
  const keyring = loadKeyring(options);
  // The environment cannot change under a running process; a key file can, when `tenon keys rotate` runs.
  // Reloading reads that file only: it must never generate a fresh key because the file went missing.
  if (keyring.source === "env") return new Vault(keyring);
  const { filePath } = keyring;
  return new Vault(keyring, { reload: () => readKeyFile(filePath, options.logger) });
}
