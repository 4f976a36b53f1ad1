import { type Dispatcher, util } from "undici";

/** What came back: the status, the headers (names lower-case, repeated ones joined with ", "), the body's chunks. */
export interface RawAnswer {
  statusCode: number;
  headers: Record<string, string>;
  chunks: Buffer[];
}

export interface SendOptions {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Dispatcher.DispatchOptions["body"];
  headersTimeout: number;
  bodyTimeout: number;
  /** Aborts the request, sent or not; it rejects with the signal's reason. */
  signal: AbortSignal | undefined;
}

/**
 * Sends one request through `dispatcher` and collects its whole answer, with undici's dispatch API rather than
 * `request()`: no response stream, no async resource per request and no promise per chunk, which `request()`
 * costs and a client that reads every answer whole does not need. Rejects as `request()` does: with undici's
 * error (UND_ERR_* codes), or the signal's reason once it aborts.
 */
export function sendRequest(dispatcher: Dispatcher, options: SendOptions): Promise<RawAnswer> {
  return new Promise<RawAnswer>((resolve, reject) => {
    const handler = new CollectingHandler(resolve, reject, options.signal);
    if (handler.settled) return;
    const { url } = options;
    dispatcher.dispatch(
      {
        origin: url.origin,
        path: url.search ? `${url.pathname}${url.search}` : url.pathname,
        method: options.method as Dispatcher.HttpMethod,
        headers: options.headers,
        body: options.body ?? null,
        headersTimeout: options.headersTimeout,
        bodyTimeout: options.bodyTimeout,
      },
      handler,
    );
  });
}

/** undici's legacy handler interface (onConnect … onComplete), which LeaseCheckedDispatcher wraps. */
class CollectingHandler implements Dispatcher.DispatchHandler {
  settled = false;
  readonly #resolve: (answer: RawAnswer) => void;
  readonly #reject: (error: Error) => void;
  readonly #signal: AbortSignal | undefined;
  #abort: ((error?: Error) => void) | undefined;
  /** Made only for a request with a signal: most have none. */
  #onAbort: (() => void) | undefined;
  #statusCode = 0;
  #headers: Record<string, string> = {};
  #chunks: Buffer[] = [];

  constructor(resolve: (answer: RawAnswer) => void, reject: (error: Error) => void, signal: AbortSignal | undefined) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
    if (!signal) return;
    if (signal.aborted) {
      this.#fail(abortReason(signal));
      return;
    }
    this.#onAbort = () => {
      const reason = abortReason(signal);
      // Not connected yet: onConnect refuses it. Connected: undici aborts it and calls onError with the reason.
      if (this.#abort) this.#abort(reason);
      else this.#fail(reason);
    };
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.settled) {
      abort(abortReason(this.#signal as AbortSignal));
      return;
    }
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx (100 Continue, 103 Early Hints) precede the answer.
    if (statusCode < 200) return true;
    this.#statusCode = statusCode;
    this.#headers = flatHeaders(rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#resolve({ statusCode: this.#statusCode, headers: this.#headers, chunks: this.#chunks });
  }

  onError(error: Error): void {
    this.#fail(error);
  }

  #fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#chunks = [];
    this.#reject(error);
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException("This operation was aborted", "AbortError");
}

/** As undici's `parseHeaders` reads them (names lower-case, values latin1), with repeated ones joined by ", ". */
function flatHeaders(raw: Buffer[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i] as Buffer);
    const value = (raw[i + 1] as Buffer).toString("latin1");
    const earlier = Object.hasOwn(headers, name) ? headers[name] : undefined;
    const joined = earlier === undefined ? value : `${earlier}, ${value}`;
    // defineProperty, so that a header named "__proto__" stays a header.
    if (name === "__proto__") Object.defineProperty(headers, name, { value: joined, enumerable: true, writable: true });
    else headers[name] = joined;
  }
  return headers;
}
