import { describe, expect, it } from "vitest";
import { generateMasterKey } from "../../../src/connections/vault/master-key.ts";
import {
  authorizationScope,
  credentialsScope,
  rotateMasterKey,
} from "../../../src/connections/vault/rotate-master-key.ts";
import { Vault } from "../../../src/connections/vault/vault.ts";
import type { ConnectionStore } from "../../../src/storage/connection-store.ts";
import type { Storage } from "../../../src/storage/contract.ts";
import { backends, useTestStorage } from "../../support/backends.ts";

const now = Date.UTC(2025, 0, 1);
const connectionIds = ["crm", "accounting", "helpdesk"];

function tokenOf(connectionId: string): string {
  return JSON.stringify({ accessToken: `access-${connectionId}`, refreshToken: `refresh-${connectionId}` });
}

async function storeSecrets(storage: Storage, vault: Vault): Promise<void> {
  for (const connectionId of connectionIds) {
    const result = await storage.connections.saveCredentials({
      connectionId,
      sealedCredentials: vault.seal(credentialsScope(connectionId), tokenOf(connectionId)),
      expiresAt: null,
      restoresAccess: true,
      now,
    });
    expect(result.saved).toBe(true);
  }
  await storage.connections.savePendingAuthorization({
    state: "state-1",
    connectionId: "crm",
    sealedVerifier: vault.seal(authorizationScope("state-1"), "pkce-verifier"),
    returnTo: null,
    expiresAt: now + 600_000,
  });
}

async function expectAllOpenWith(storage: Storage, vault: Vault, tokens: Record<string, string> = {}): Promise<void> {
  for (const connectionId of connectionIds) {
    const record = await storage.connections.getConnection(connectionId);
    const sealed = record?.sealedCredentials;
    if (!sealed) throw new Error(`no credentials stored for ${connectionId}`);
    expect(vault.keyIdOf(sealed)).toBe(vault.currentKeyId);
    expect(vault.open(credentialsScope(connectionId), sealed)).toBe(tokens[connectionId] ?? tokenOf(connectionId));
  }
  const pending = await storage.connections.takePendingAuthorization("state-1", now);
  if (!pending) throw new Error("the pending authorization is gone");
  expect(vault.open(authorizationScope("state-1"), pending.sealedVerifier)).toBe("pkce-verifier");
}

describe.each(backends)("master key rotation on $name", (backend) => {
  const t = useTestStorage(backend);

  it("rewraps every stored secret, so a vault holding only the new key opens them all", async () => {
    await t.storage.migrate();
    const old = generateMasterKey();
    await storeSecrets(t.storage, new Vault({ current: old, previous: [] }));

    const next = generateMasterKey();
    const rotating = new Vault({ current: next, previous: [old] });
    expect(await rotateMasterKey(t.storage.connections, rotating)).toEqual({ resealed: 4, alreadyCurrent: 0 });
    expect(await rotateMasterKey(t.storage.connections, rotating)).toEqual({ resealed: 0, alreadyCurrent: 4 });

    await expectAllOpenWith(t.storage, new Vault({ current: next, previous: [] }));
  });

  it("leaves a secret that already is under the new key alone", async () => {
    await t.storage.migrate();
    const old = generateMasterKey();
    const next = generateMasterKey();
    await storeSecrets(t.storage, new Vault({ current: old, previous: [] }));
    await t.storage.connections.saveCredentials({
      connectionId: "crm",
      sealedCredentials: new Vault({ current: next, previous: [] }).seal(credentialsScope("crm"), tokenOf("crm")),
      expiresAt: null,
      restoresAccess: true,
      now,
    });

    const result = await rotateMasterKey(t.storage.connections, new Vault({ current: next, previous: [old] }));
    expect(result).toEqual({ resealed: 3, alreadyCurrent: 1 });
    await expectAllOpenWith(t.storage, new Vault({ current: next, previous: [] }));
  });

  it("loses to a token refresh that writes meanwhile, lists again, and ends with the refreshed token under the new key", async () => {
    await t.storage.migrate();
    const old = generateMasterKey();
    const lagging = new Vault({ current: old, previous: [] });
    await storeSecrets(t.storage, lagging);
    const connections = t.storage.connections;

    // A process that has not picked up the new key refreshes crm's token between the listing and the write.
    const outcomes: boolean[] = [];
    let refreshed = false;
    const racingStore: Pick<ConnectionStore, "listSealedSecrets" | "resealSecret"> = {
      listSealedSecrets: () => connections.listSealedSecrets(),
      async resealSecret(kind, id, previous, next) {
        if (kind === "credentials" && id === "crm" && !refreshed) {
          refreshed = true;
          const current = await connections.getConnection("crm");
          const refresh = await connections.saveCredentials({
            connectionId: "crm",
            sealedCredentials: lagging.seal(credentialsScope("crm"), '{"accessToken":"refreshed"}'),
            expiresAt: now + 3_600_000,
            expectedVersion: current?.credentialsVersion ?? 0,
            restoresAccess: false,
            now,
          });
          expect(refresh.saved).toBe(true);
        }
        const written = await connections.resealSecret(kind, id, previous, next);
        if (kind === "credentials" && id === "crm") outcomes.push(written);
        return written;
      },
    };

    const next = generateMasterKey();
    const result = await rotateMasterKey(racingStore, new Vault({ current: next, previous: [old] }));
    expect(outcomes).toEqual([false, true]);
    expect(result).toEqual({ resealed: 4, alreadyCurrent: 0 });
    await expectAllOpenWith(t.storage, new Vault({ current: next, previous: [] }), {
      crm: '{"accessToken":"refreshed"}',
    });
  });

  it("stops with the unknown-key error when the old key is not given", async () => {
    await t.storage.migrate();
    const old = generateMasterKey();
    await storeSecrets(t.storage, new Vault({ current: old, previous: [] }));
    const next = generateMasterKey();
    await expect(rotateMasterKey(t.storage.connections, new Vault({ current: next, previous: [] }))).rejects.toThrow(
      `was sealed under master key ${old.id}, which this process does not have (current ${next.id})`,
    );
  });
});

describe("master key rotation against a store that refuses every write", () => {
  it("fails instead of retrying forever", async () => {
    const old = generateMasterKey();
    const sealed = new Vault({ current: old, previous: [] }).seal(credentialsScope("crm"), tokenOf("crm"));
    const refusing: Pick<ConnectionStore, "listSealedSecrets" | "resealSecret"> = {
      listSealedSecrets: async () => [{ kind: "credentials", id: "crm", sealed }],
      resealSecret: async () => false,
    };
    const vault = new Vault({ current: generateMasterKey(), previous: [old] });
    await expect(rotateMasterKey(refusing, vault)).rejects.toThrow(
      'the store refused to reseal credentials "crm" although nothing else changed it',
    );
  });
});
