import type { ConnectionStore } from "../../storage/connection-store.ts";
import type { Vault } from "./vault.ts";

/** The scope a connection's stored credentials are sealed for. */
export function credentialsScope(connectionId: string): string {
  return `connection:${connectionId}`;
}

/** The scope a pending OAuth authorisation's verifier is sealed for. */
export function authorizationScope(state: string): string {
  return `authorization:${state}`;
}

export interface RotationResult {
  /** Envelopes this rotation rewrapped under the current key. */
  resealed: number;
  /** Envelopes that were under the current key without this rotation's help. */
  alreadyCurrent: number;
}

/** All a rotation needs from storage. */
export type SealedSecretStore = Pick<ConnectionStore, "listSealedSecrets" | "resealSecret">;

/**
 * Rewraps every stored envelope under the vault's current master key while the engine keeps running.
 * Each write is a compare-and-set: a token refresh that wrote meanwhile wins (its envelope is newer), and
 * the next pass looks again. It returns only after a listing in which every envelope is under the current
 * key, so the old key can then be retired.
 */
export async function rotateMasterKey(store: SealedSecretStore, vault: Vault): Promise<RotationResult> {
  const written = new Set<string>();
  const lost = new Set<string>();
  for (;;) {
    const secrets = await store.listSealedSecrets();
    const stale = secrets.filter((secret) => vault.keyIdOf(secret.sealed) !== vault.currentKeyId);
    if (stale.length === 0) {
      const alreadyCurrent = secrets.filter((secret) => !written.has(secret.sealed)).length;
      return { resealed: written.size, alreadyCurrent };
    }
    for (const secret of stale) {
      // Every seal is random, so a lost compare-and-set means the envelope changed; seeing it again unchanged
      // means the store refuses the write, and another pass would loop forever.
      if (lost.has(secret.sealed)) {
        throw new Error(`the store refused to reseal ${secret.kind} "${secret.id}" although nothing else changed it`);
      }
      const next = vault.rewrap(scopeOf(secret), secret.sealed);
      if (await store.resealSecret(secret.kind, secret.id, secret.sealed, next)) written.add(next);
      else lost.add(secret.sealed);
    }
  }
}

function scopeOf(secret: { kind: "credentials" | "authorization"; id: string }): string {
  return secret.kind === "credentials" ? credentialsScope(secret.id) : authorizationScope(secret.id);
}
