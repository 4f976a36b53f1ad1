import type { Clock } from "../../engine/clock.ts";
import { newId } from "../../engine/ids.ts";
import { CircuitOpenError } from "../../sdk/errors.ts";
import { closedCircuit } from "../../storage/connection-rules.ts";
import type { CircuitState, ConnectionStore } from "../../storage/connection-store.ts";

export interface CircuitSettings {
  /** Consecutive retryable failures (network errors, timeouts, 5xx) that open the circuit. */
  failureThreshold: number;
  /** How long it stays open before a single probe may test the API. */
  cooldownMs: number;
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

  /** Lets a request through (a normal one, or the probe of an open circuit) or throws CircuitOpenError. */
  async admit(): Promise<"normal" | "probe"> {
    const now = this.clock.now();
    const state = await this.#state(now);
    if (state.status === "closed") return "normal";
    if (state.status === "open" && state.reopenAt !== null && state.reopenAt > now) {
      throw new CircuitOpenError(this.connectionId, state.reopenAt);
    }
    if (await this.store.claimCircuitProbe(this.connectionId, now, this.settings.cooldownMs)) return "probe";
    // Another worker is probing: look again when its probe lease ends; a success wakes waiting runs sooner.
    this.#cachedAt = 0;
    throw new CircuitOpenError(this.connectionId, now + Math.min(this.settings.cooldownMs, 1000));
  }

  async recordSuccess(): Promise<void> {
    const cached = this.#cached;
    if (cached && cached.status === "closed" && cached.consecutiveFailures === 0) return;
    const now = this.clock.now();
    const { closed } = await this.store.recordCircuitSuccess(this.connectionId, now);
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
    this.#remember(closedCircuit(this.connectionId), now);
  }

  /** Counts a retryable failure; returns the circuit's state after it (open means: stop, and wait). */
  async recordFailure(error: string): Promise<CircuitState> {
    const now = this.clock.now();
    const wasOpen = this.#cached !== undefined && this.#cached.status !== "closed";
    const state = await this.store.recordCircuitFailure({
      connectionId: this.connectionId,
      threshold: this.settings.failureThreshold,
      cooldownMs: this.settings.cooldownMs,
      error,
      now,
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
