import { Link } from "wouter";
import type { Exchange } from "../api/types.ts";
import { formatDuration } from "../format/time.ts";
import { CodeBlock } from "./CodeBlock.tsx";
import { HttpStatusBadge } from "./StatusBadge.tsx";
import { Time } from "./Time.tsx";

/**
 * Outbound requests as the audit trail stored them: secrets were redacted and bodies truncated before they were
 * written, so what is shown here is safe to show. Each opens to its headers and bodies.
 */
export function ExchangeList({ exchanges, showRun = false }: { exchanges: Exchange[]; showRun?: boolean }) {
  return (
    <ol className="exchanges">
      {exchanges.map((exchange) => (
        <li key={exchange.id} id={`exchange-${exchange.id}`}>
          <ExchangeItem exchange={exchange} showRun={showRun} />
        </li>
      ))}
    </ol>
  );
}

export function ExchangeItem({ exchange, showRun }: { exchange: Exchange; showRun: boolean }) {
  const failed = exchange.status === null || exchange.status >= 400;
  return (
    <details className={`exchange ${failed ? "exchange-failed" : ""}`} open={failed && exchange.responseBody !== null}>
      <summary>
        <HttpStatusBadge status={exchange.status} />
        <span className="exchange-method">{exchange.method}</span>
        <span className="exchange-url" title={exchange.url}>
          {exchange.url}
        </span>
        <span className="exchange-meta muted">
          {exchange.connectionId}
          {exchange.stepName && ` · ${exchange.stepName}`} · {formatDuration(exchange.durationMs)} ·{" "}
          <Time at={exchange.at} />
        </span>
      </summary>
      <div className="exchange-body">
        {showRun && exchange.runId && (
          <p>
            Run <Link href={`/runs/${exchange.runId}`}>{exchange.runId}</Link>
          </p>
        )}
        {exchange.error && (
          <p className="error-text">
            <strong>Error:</strong> {exchange.error}
          </p>
        )}
        <div className="exchange-columns">
          <div>
            <h4>Request</h4>
            <CodeBlock label="request headers" value={headers(exchange.requestHeaders)} />
            {exchange.requestBody !== null && <CodeBlock label="request body" value={exchange.requestBody} />}
          </div>
          <div>
            <h4>Response</h4>
            {exchange.responseHeaders !== null && (
              <CodeBlock label="response headers" value={headers(exchange.responseHeaders)} />
            )}
            {exchange.responseBody !== null ? (
              <CodeBlock label="response body" value={exchange.responseBody} />
            ) : (
              <p className="muted">No response body.</p>
            )}
          </div>
        </div>
      </div>
    </details>
  );
}

function headers(value: string | Record<string, string>): Record<string, string> | string {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as Record<string, string>;
  } catch {
    return value;
  }
}
