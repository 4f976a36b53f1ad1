import type { RawWebhookPayload } from "../server/hooks-route.ts";

/** Whether a stored payload is a webhook body kept as it arrived, because it could not be parsed (see hooks-route). */
export function isRawWebhookPayload(payload: unknown): payload is RawWebhookPayload {
  if (typeof payload !== "object" || payload === null) return false;
  const { contentType, encoding, body, ...rest } = payload as Record<string, unknown>;
  return (
    Object.keys(rest).length === 0 &&
    (contentType === null || typeof contentType === "string") &&
    (encoding === "utf8" || encoding === "base64") &&
    typeof body === "string"
  );
}
