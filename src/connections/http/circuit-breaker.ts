import { randomUUID } from "node:crypto";
import type { Clock } from "../../runtime/clock.ts";
import { newId } from "../../runtime/ids.ts";
import { LeaseFence } from "../../runtime/lease-fence.ts";
import { CircuitOpenError } from "../../sdk/errors.ts";
import { closedCircuit } from "../../storage/connection-rules.ts";
import type { CircuitState, ConnectionStore } from "../../storage/connection-store.ts";

export interface CircuitSettings {
  /** Consecutive retryable failures (network errors, timeouts, 5xx) that open the circuit. */
  failureThreshold: number;
  /** How long it stays open before a single probe may test the API. */
  cooldownMs: number;
}

/**
 * The one request that tests an open circuit. Storage holds the probe for it for one cooldown; `fence` is
 * this worker's own view of that lease (a quarter shorter, for clock skew and late timers): the request is
 * not sent once it has lapsed and is aborted if still in flight, so that two probes never test the API at
 * once, and its outcome only counts while the probe is still the circuit's current one.
 */
export interface CircuitProbe {
  id: string;
  /** When storage lets another worker probe. */
  until: number;
  fence: LeaseFence;
}

/** How long a closed, healthy circuit's state is trusted before it is read again from storage. */
const trustClosedMs = 1000;

/**
 * A connection's circuit breaker. Its state lives in storage, so every worker sees the circuit open
 * and one probe at a time tests a recovering API; a healthy circuit is re-read at most once a second,
 * so the hot path costs no query.
 */
export class CircuitBreaker {
  #cached: CircuitState | undefined;
  #cachedAt = 0;

  constructor(
    private readonly connectionId: string,
    private readonly store: ConnectionStore,
    private readonly clock: Clock,
    private readonly settings: CircuitSettings,
  ) {}

  /**
   * Whether the circuit is known closed right now without asking storage (the state read within the last second
   * said so): the client then sends without awaiting `admit`, a promise less per request.
   */
  knownClosed(): boolean {
    const cached = this.#cached;
    return cached !== undefined && cached.status === "closed" && this.clock.now() - this.#cachedAt < trustClosedMs;
  }

  /** Whether a success has nothing to change (a closed circuit with no failure counted, no probe): no need to await `recordSuccess`. */
  successChangesNothing(probe: CircuitProbe | undefined): boolean {
    const cached = this.#cached;
    return !probe && cached !== undefined && cached.status === "closed" && cached.consecutiveFailures === 0;
  }

  /**
   * Lets a request through or throws CircuitOpenError. Returns the probe when this request is the one that
   * tests an open circuit (close its fence when the request is over), undefined for a normal request.
   */
  async admit(): Promise<CircuitProbe | undefined> {
    const now = this.clock.now();
    const state = await this.#state(now);
    if (state.status === "closed") return undefined;
    if (state.status === "open" && state.reopenAt !== null && state.reopenAt > now) {
      throw new CircuitOpenError(this.connectionId, state.reopenAt);
    }
    const { cooldownMs } = this.settings;
    const id = randomUUID();
    if (await this.store.claimCircuitProbe(this.connectionId, now, cooldownMs, id)) {
      const until = now + cooldownMs;
      const heldFor = cooldownMs - Math.floor(cooldownMs / 4);
      const fence = new LeaseFence(this.clock, now + heldFor, {
        on: `the circuit probe of connection "${this.connectionId}"`,
        lapsesWhen: `the probe got no answer within ${heldFor} ms, 3/4 of the circuit's cooldown`,
      });
      return { id, until, fence };
    }
    // Another worker is probing: look again when its probe lease ends; a success wakes waiting runs sooner.
    this.#cachedAt = 0;
    throw new CircuitOpenError(this.connectionId, now + Math.min(cooldownMs, 1000));
  }

  /** A request succeeded; a probe's success closes the circuit only if it is still the current probe. */
  async recordSuccess(probe?: CircuitProbe): Promise<void> {
    if (this.successChangesNothing(probe)) return;
    const now = this.clock.now();
    const { closed } = await this.store.recordCircuitSuccess(this.connectionId, now, probe?.id);
    // Several requests may succeed at once against an opening circuit: the one that closed it reports it.
    if (closed) {
      await this.store.recordIncident({
        id: newId(),
        connectionId: this.connectionId,
        kind: "circuit_closed",
        detail: "a probe request succeeded; the circuit is closed and waiting runs resume",
        at: now,
      });
    }
    // A stale probe changed nothing: the circuit is whatever the newer probe made it, so read it again.
    if (probe && !closed) this.#cached = undefined;
    else this.#remember(closedCircuit(this.connectionId), now);
  }

  /**
   * Counts a retryable failure (a probe's only if it is still the current probe); returns the circuit's state
   * after it (open or half-open means: stop, and wait).
   */
  async recordFailure(error: string, probe?: CircuitProbe): Promise<CircuitState> {
    const now = this.clock.now();
    const wasOpen = this.#cached !== undefined && this.#cached.status !== "closed";
    const state = await this.store.recordCircuitFailure({
      connectionId: this.connectionId,
      threshold: this.settings.failureThreshold,
      cooldownMs: this.settings.cooldownMs,
      error,
      now,
      ...(probe ? { probeId: probe.id } : {}),
    });
    if (state.status === "open" && !wasOpen && state.openedAt === now) {
      await this.store.recordIncident({
        id: newId(),
        connectionId: this.connectionId,
        kind: "circuit_opened",
        detail: `${state.consecutiveFailures} consecutive failures, the last: ${error}; requests stop until ${new Date(state.reopenAt ?? now).toISOString()}`,
        at: now,
      });
    }
    this.#remember(state, now);
    return state;
  }

  async #state(now: number): Promise<CircuitState> {
    const cached = this.#cached;
    if (cached && cached.status === "closed" && now - this.#cachedAt < trustClosedMs) return cached;
    if (cached && cached.status === "open" && cached.reopenAt !== null && cached.reopenAt > now) return cached;
    const state = await this.store.getCircuit(this.connectionId);
    this.#remember(state, now);
    return state;
  }

  #remember(state: CircuitState, now: number): void {
    this.#cached = state;
    this.#cachedAt = now;
  }
}
