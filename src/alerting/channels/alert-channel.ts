import type { ConnectionConfig } from "../../connections/connection-config.ts";
import type { ConnectionClient } from "../../sdk/connection-client.ts";
import type { AlertNotification } from "../notification.ts";

/**
 * One alert channel: how a notification is sent. A send runs inside a step of the channel's delivery run, so
 * a failure is retried with backoff and a crash resumes it; HTTP channels send through a connection of their
 * own (`connection`), so every delivery is in the audit trail, rate-limited and behind a circuit like any call.
 */
export interface AlertChannel {
  /** The connection this channel's requests go through, if it speaks HTTP. */
  readonly connection?: { id: string; config: ConnectionConfig };
  send(notification: AlertNotification, connection: (id: string) => ConnectionClient): Promise<void>;
  /** Releases what the channel holds (an SMTP pool). */
  close?(): void;
}

/** The connection id of a channel's HTTP deliveries. */
export function channelConnectionId(channel: string): string {
  return `alerts-${channel}`;
}
