import { alertToJson } from "../../alerting/alert-json.ts";
import { readSettings } from "../../config/settings.ts";
import { type Duration, durationToMs } from "../../sdk/duration.ts";
import { ValidationError } from "../../sdk/errors.ts";
import type { AlertStatus } from "../../storage/alert-store.ts";
import type { Storage } from "../../storage/contract.ts";
import { cliUser, recordCliAction } from "../cli-operator-log.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { withMigratedStorage } from "../storage-from-settings.ts";

/** `tenon alerts [--status firing|resolved] [--json]`: newest first, firing ones by default. */
export async function listAlertsCommand(options: { status?: string; all?: boolean; json?: boolean }): Promise<void> {
  if (options.status !== undefined && !["firing", "resolved"].includes(options.status)) {
    throw new ValidationError(`--status is "${options.status}"; choose firing or resolved`);
  }
  const status = options.all ? undefined : ((options.status ?? "firing") as AlertStatus);
  await withStorage(async (storage) => {
    const alerts = await storage.alerts.listAlerts({ ...(status ? { status } : {}), limit: 200 });
    if (options.json) {
      console.log(JSON.stringify({ alerts: alerts.map(alertToJson) }, null, 2));
      return;
    }
    if (alerts.length === 0) {
      console.log(status === "firing" ? "no alert is firing" : "no alerts");
      return;
    }
    const now = Date.now();
    const rows = alerts.map((alert) => [
      alert.fingerprint,
      alert.status +
        (alert.ackedAt !== null
          ? " (acked)"
          : alert.snoozedUntil !== null && alert.snoozedUntil > now
            ? " (snoozed)"
            : ""),
      alert.severity,
      alert.rule,
      alert.subject,
      formatLocalTimeWithAge(alert.firstSeenAt, now),
      alert.summary,
    ]);
    console.log(formatTable(["FINGERPRINT", "STATUS", "SEVERITY", "RULE", "SUBJECT", "SINCE", "SUMMARY"], rows));
  });
}

/** `tenon alerts ack <fingerprint>`: no more notifications for it until it resolves (its resolution is still told). */
export async function ackAlertCommand(fingerprint: string): Promise<void> {
  await withStorage(async (storage) => {
    const acked = await storage.alerts.ackAlert(fingerprint, `cli:${cliUser()}`, Date.now());
    if (!acked) throw await notFiring(storage, fingerprint);
    await recordCliAction(storage, {
      action: "tenon alerts ack",
      target: fingerprint,
      detail: `${acked.rule} on ${acked.subject}`,
    });
    console.log(
      `alert ${fingerprint} (${acked.rule} on ${acked.subject}) is acknowledged: no more notifications until it resolves`,
    );
  });
}

/** `tenon alerts snooze <fingerprint> <duration>`: no notification before the snooze ends. */
export async function snoozeAlertCommand(fingerprint: string, duration: string): Promise<void> {
  let ms: number;
  try {
    ms = durationToMs(duration as Duration);
  } catch (error) {
    throw new ValidationError(`"${duration}": ${(error as Error).message}`);
  }
  if (ms <= 0 || ms > 30 * 24 * 3_600_000) throw new ValidationError("a snooze lasts from 1 ms to 30d");
  await withStorage(async (storage) => {
    const until = Date.now() + ms;
    const snoozed = await storage.alerts.snoozeAlert(fingerprint, until);
    if (!snoozed) throw await notFiring(storage, fingerprint);
    await recordCliAction(storage, { action: "tenon alerts snooze", target: fingerprint, detail: `for ${duration}` });
    console.log(`alert ${fingerprint} is snoozed until ${new Date(until).toISOString()}`);
  });
}

async function notFiring(storage: Storage, fingerprint: string): Promise<ValidationError> {
  const known = await storage.alerts.getAlert(fingerprint);
  return new ValidationError(
    known
      ? `alert ${fingerprint} is ${known.status}: only a firing alert can be silenced`
      : `no alert with fingerprint ${fingerprint}; see \`tenon alerts --all\``,
  );
}

function withStorage(use: (storage: Storage) => Promise<void>): Promise<void> {
  return withMigratedStorage(use, readSettings());
}
