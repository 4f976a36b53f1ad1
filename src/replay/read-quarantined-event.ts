import type { RequalifyInput } from "../engine/engine.ts";
import { UnparseableBodyError } from "../ingestion/webhooks/webhook-provider.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import type { EventRecord } from "../storage/contract.ts";
import { isRawWebhookPayload } from "./raw-webhook-payload.ts";

/**
 * A quarantined (or unmatched) event as the current config reads it. A webhook whose body could not be parsed is parsed
 * again by its source's provider (a fix in the config, or a newer Tenon, may read it now); its signature was
 * verified when it arrived, and the signing headers are not kept, so it is not verified again. Any other
 * event keeps its type and payload, and only its matching to integrations is done again.
 */
export function readQuarantinedEvent(event: EventRecord, sources: ReadonlyMap<string, WebhookSource>): RequalifyInput {
  const payload = parseStored(event.payloadJson);
  if (!isRawWebhookPayload(payload)) return { type: event.type, payload, parsedAgain: false };
  const source = sources.get(event.source);
  if (!source) {
    return {
      unusable: `its body could not be parsed when it arrived, and "${event.source}" is not a webhook source in the config to parse it again`,
    };
  }
  const headers: Record<string, string | undefined> = {};
  if (payload.contentType !== null) headers["content-type"] = payload.contentType;
  try {
    const parsed = source.provider.parse({
      method: "POST",
      url: `http://replay.invalid/hooks/${event.source}`,
      headers,
      rawBody: Buffer.from(payload.body, payload.encoding),
    });
    const [only, ...more] = parsed.events;
    if (parsed.reply || !only) return { unusable: "its body parses now, but into no event (a provider handshake)" };
    if (more.length > 0) {
      return {
        unusable: `its body parses now, into ${parsed.events.length} events; a batch is not replayed from one stored event: have the provider send it again`,
      };
    }
    return { type: only.type, payload: only.payload, parsedAgain: true };
  } catch (error) {
    if (error instanceof UnparseableBodyError) return { unusable: error.message };
    throw error;
  }
}

function parseStored(payloadJson: string): unknown {
  try {
    return JSON.parse(payloadJson);
  } catch {
    return payloadJson;
  }
}
