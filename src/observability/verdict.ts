/** Green: nothing to do. Amber: look soon. Red: something is stuck or failing now. */
export type HealthStatus = "green" | "amber" | "red";

export interface Verdict {
  status: HealthStatus;
  /** One sentence an operator can act on; the dashboard shows it beside the colour. */
  reason: string;
}

export const hourMs = 3_600_000;

export const red = (reason: string): Verdict => ({ status: "red", reason });
export const amber = (reason: string): Verdict => ({ status: "amber", reason });
export const green = (reason: string): Verdict => ({ status: "green", reason });

export const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());
/** A span as a person says it: "45 s", "12 min". */
export const minutes = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);
export const hours = (ms: number) => (ms < 2 * hourMs ? minutes(ms) : `${Math.round(ms / hourMs)} h`);
