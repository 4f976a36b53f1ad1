import { Dispatcher } from "undici";
import { type LeaseFence, LeaseLostError } from "../../runtime/lease-fence.ts";

/**
 * Sends a request through `inner` only if every fence still holds at the moment undici writes it to a
 * socket, not only when it was handed to undici. Between the two, a request may wait for a connection to
 * open or to come free; a process stalled there (SIGSTOP, a long GC pause) resumes by handling the I/O that
 * completed meanwhile, which writes the request, before the fence's timer has had a chance to abort it.
 * undici calls `onConnect` synchronously just before the write; refusing there aborts the request unsent.
 *
 * It wraps undici's legacy handler interface (onConnect, onHeaders, …), the one send-request.ts implements,
 * which is the only way Tenon dispatches.
 */
export class LeaseCheckedDispatcher extends Dispatcher {
  readonly #inner: Dispatcher;
  readonly #fences: readonly LeaseFence[];
  readonly #action: () => string;

  constructor(inner: Dispatcher, fences: readonly LeaseFence[], action: () => string) {
    super();
    this.#inner = inner;
    this.#fences = fences;
    this.#action = action;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#inner.dispatch(options, new LeaseCheckedHandler(handler, this.#fences, this.#action));
  }
}

class LeaseCheckedHandler implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #fences: readonly LeaseFence[];
  readonly #action: () => string;

  constructor(handler: Dispatcher.DispatchHandler, fences: readonly LeaseFence[], action: () => string) {
    this.#handler = handler;
    this.#fences = fences;
    this.#action = action;
  }

  onConnect(abort: (err?: Error) => void, context?: object): void {
    const lapsed = this.#fences.find((fence) => !fence.held);
    if (lapsed) {
      abort(
        new LeaseLostError(
          `the worker fenced itself before ${this.#action()} left: its lease on ${lapsed.on} lapsed while the request waited for a connection`,
        ),
      );
      return;
    }
    (this.#handler.onConnect as ((abort: (err?: Error) => void, context?: object) => void) | undefined)?.call(
      this.#handler,
      abort,
      context,
    );
  }

  onError(error: Error): void {
    this.#handler.onError?.(error);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import("node:stream").Duplex): void {
    this.#handler.onUpgrade?.(statusCode, headers, socket);
  }

  onResponseStarted(): void {
    this.#handler.onResponseStarted?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    return this.#handler.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.#handler.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | null): void {
    this.#handler.onComplete?.(trailers);
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#handler.onBodySent?.(chunkSize, totalBytesSent);
  }
}
