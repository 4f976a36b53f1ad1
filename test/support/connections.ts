import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import { Connections } from "../../src/connections/connections.ts";
import { openVault } from "../../src/connections/vault/open-vault.ts";
import type { Vault } from "../../src/connections/vault/vault.ts";
import type { TenonMetrics } from "../../src/observability/metrics.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { silentLogger } from "./engine.ts";

/** A vault with a fresh random master key (as TENON_MASTER_KEY would give). */
export function testVault(masterKey = randomBytes(32).toString("base64")): Vault {
  return openVault({ env: { TENON_MASTER_KEY: masterKey } });
}

/** Connections for a test: audit records are flushed every 10 ms so tests can read them soon. */
export function testConnections(
  storage: Storage,
  configs: Record<string, ConnectionConfig>,
  options: {
    vault?: Vault;
    logger?: Logger;
    publicUrl?: string;
    maxInlineWaitMs?: number;
    metrics?: TenonMetrics;
    clock?: Clock;
  } = {},
): Connections {
  return new Connections({
    storage,
    configs,
    vault: options.vault ?? testVault(),
    logger: options.logger ?? silentLogger,
    audit: { flushIntervalMs: 10 },
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.maxInlineWaitMs !== undefined ? { maxInlineWaitMs: options.maxInlineWaitMs } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
}
