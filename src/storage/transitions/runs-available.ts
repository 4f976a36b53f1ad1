/**
 * PostgreSQL only: wakes idle workers (LISTEN tenon_runs) once a transition has made a run claimable. Sent inside
 * the transition's transaction, so it is delivered on commit. On SQLite the engine wakes its own worker.
 */
export const notifyRunsAvailable = { postgres: "SELECT pg_notify('tenon_runs', '')" } as const;
