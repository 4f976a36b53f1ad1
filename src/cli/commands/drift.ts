import { readSettings } from "../../config/settings.ts";
import { ValidationError } from "../../sdk/errors.ts";
import { type DriftIncident, maxDriftPage } from "../../storage/drift-store.ts";
import { cliReplayActor, recordCliAction } from "../cli-operator-log.ts";
import { formatTable } from "../format-table.ts";
import { formatLocalTimeWithAge } from "../local-time.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

export interface DriftListOptions {
  limit: number;
  /** Accepted incidents too. */
  all?: boolean;
  /** Breaking ones only. */
  breaking?: boolean;
  json?: boolean;
}

/** `tenon drift`: the API drift incidents still open (or all of them), newest first. */
export async function listDriftCommand(options: DriftListOptions): Promise<void> {
  if (options.limit > maxDriftPage) throw new ValidationError(`--limit must be at most ${maxDriftPage}`);
  const storage = await openExistingStorage(readSettings());
  try {
    // Runs the migrations a newer Tenon added (the drift tables), as `tenon search` does.
    await storage.migrate();
    const incidents = await storage.drift.listIncidents({
      limit: options.limit,
      ...(options.all ? {} : { open: true }),
      ...(options.breaking ? { breaking: true } : {}),
    });
    console.log(options.json ? JSON.stringify({ incidents }) : formatIncidents(incidents, Date.now(), options.all));
  } finally {
    await storage.close();
  }
}

/** `tenon drift accept <id>`: the shape of that incident, as it is now, becomes the baseline. */
export async function acceptDriftCommand(incidentId: string): Promise<void> {
  const storage = await openExistingStorage(readSettings());
  try {
    await storage.migrate();
    const accepted = await storage.drift.acceptShape({ incidentId, acceptedBy: cliReplayActor(), at: Date.now() });
    if (!accepted) throw new ValidationError(`drift incident ${incidentId} does not exist; see \`tenon drift --all\``);
    await recordCliAction(storage, {
      action: "tenon drift accept",
      target: incidentId,
      detail: `accepted shape ${accepted.shapeId} (${accepted.accepted} open incident(s))`,
    });
    console.log(
      `accepted: ${accepted.accepted} open incident(s) closed; the baseline is learned again from the next answers`,
    );
  } finally {
    await storage.close();
  }
}

function formatIncidents(incidents: DriftIncident[], now: number, all: boolean | undefined): string {
  if (incidents.length === 0) {
    return all ? "no API drift found yet" : "no open API drift (`tenon drift --all` lists accepted incidents too)";
  }
  return formatTable(
    ["ID", "BREAKING", "WHERE", "FIELD", "CHANGE", "EXAMPLE", "SEEN", "LAST SEEN"],
    incidents.map((incident) => [
      incident.id,
      incident.breaking ? "yes" : "no",
      describeSubject(incident),
      incident.fieldPath,
      incident.acceptedAt === null ? incident.change : `${incident.change} (accepted)`,
      incident.example ?? "-",
      String(incident.seenCount),
      formatLocalTimeWithAge(incident.lastSeenAt, now),
    ]),
  );
}

/** `crm GET /v3/contacts/{id} 200`, or `shop orders/create` for a webhook event. */
function describeSubject(incident: DriftIncident): string {
  if (incident.kind === "webhook") return `${incident.subject} ${incident.eventType ?? ""}`.trim();
  return [incident.subject, incident.method, incident.routeTemplate, incident.status]
    .filter((p) => p !== null)
    .join(" ");
}
