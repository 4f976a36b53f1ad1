import { httpAttributes, type Span, startClientSpan, tenonAttributes } from "../../observability/tracing.ts";
import { currentRun } from "../../runtime/run-scope.ts";
import { currentStep } from "../../runtime/step-scope.ts";

export interface SentRequest {
  /** The route the URL was built from (`/v3/contacts/{id}`), if the caller said (RequestOptions.urlTemplate). */
  urlTemplate: string | undefined;
  /** Sends of this request before this one: the step's earlier attempts, and a retry after a refreshed token. */
  resends: number;
}

/**
 * The CLIENT span of one request on the wire, with the HTTP semantic conventions' attributes
 * (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-client-span) and the run, step and
 * integration it was sent for. `url.full` is redacted exactly as the audit trail redacts it.
 */
export function startOutboundSpan(
  connectionId: string,
  method: string,
  url: URL,
  sent: SentRequest,
  /** The URL as the audit trail shows it, secrets redacted; called only for a span that records. */
  shownUrl: (url: URL) => string,
): Span {
  // Arguments rather than one object: without an SDK this is the whole cost per request, and allocating
  // that object (with a closure) cost ten times more than the rest.
  const span = startClientSpan(method, sent.urlTemplate);
  if (!span.isRecording()) return span;
  span.setAttributes({
    [httpAttributes.method]: method,
    [httpAttributes.urlFull]: shownUrl(url),
    [httpAttributes.serverAddress]: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    [httpAttributes.serverPort]: url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port),
    [tenonAttributes.connection]: connectionId,
  });
  if (sent.urlTemplate !== undefined) span.setAttribute(httpAttributes.urlTemplate, sent.urlTemplate);
  // Set only on a resend, as the conventions ask.
  if (sent.resends > 0) span.setAttribute(httpAttributes.resendCount, sent.resends);
  const step = currentStep();
  const run = currentRun();
  if (run) span.setAttributes({ [tenonAttributes.runId]: run.runId, [tenonAttributes.integration]: run.integrationId });
  if (step) span.setAttribute(tenonAttributes.stepName, step.stepName);
  return span;
}

/** `error.type` of a request that got no answer: undici's error code (`UND_ERR_CONNECT_TIMEOUT`), else the error's name. */
export function networkErrorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code !== "" ? code : error.name;
}

/** How many times a step's request was sent before: once per earlier attempt of the step. */
export function earlierAttempts(): number {
  return (currentStep()?.attempt ?? 1) - 1;
}
