import Database from "better-sqlite3";
import pg from "pg";

/** Where the rows go: the SQLite file, or the PostgreSQL schema (already migrated). */
export type OldRunsTarget = { sqlitePath: string } | { databaseUrl: string; schema: string };

export interface OldRunsPlan {
  count: number;
  /** When the runs finished (and their events arrived, a second before). */
  finishedAt: number;
  /** Ids are `${prefix}r-<n>` and `${prefix}e-<n>`, n from 1. Default "old-". */
  prefix?: string;
}

/**
 * Inserts `count` finished runs in bulk SQL, each as the engine leaves one: its accepted event (a Stripe-style
 * dedup key), two journal rows, one failed attempt in its history and one audit record. One in ten failed,
 * the others succeeded. Far faster than driving the engine: 100,000 runs take seconds.
 */
export async function insertOldRuns(target: OldRunsTarget, plan: OldRunsPlan): Promise<void> {
  const prefix = plan.prefix ?? "old-";
  const at = plan.finishedAt;
  const statements = [
    `INSERT INTO events (id, source, type, dedup_key, payload, status, received_at)
      SELECT :p || 'e-' || i, 'stripe', 'payment_intent.succeeded', :p || 'evt-' || i, '{"object":"event"}', 'accepted', :at - 1000 FROM n`,
    `INSERT INTO runs (id, integration_id, event_id, status, available_at, failures, created_at, started_at, finished_at, updated_at)
      SELECT :p || 'r-' || i, 'bench', :p || 'e-' || i, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
        :at - 1000, 0, :at - 1000, :at - 900, :at, :at FROM n`,
    `INSERT INTO steps (run_id, name, status, output, failures, started_at, updated_at)
      SELECT :p || 'r-' || i, s.name, 'completed', '{"ok":true}', 0, :at - 800, :at - 700 FROM n, (SELECT 'fetch' AS name UNION ALL SELECT 'charge') s`,
    `INSERT INTO run_history (run_id, kind, step_name, attempt, started_at, at, detail)
      SELECT :p || 'r-' || i, 'retry', 'charge', 1, :at - 900, :at - 850, 'HTTP 503' FROM n`,
    `INSERT INTO audit_log (id, connection_id, run_id, step_name, method, url, status, duration_ms, request_headers, at)
      SELECT :p || 'a-' || i, 'payments', :p || 'r-' || i, 'charge', 'POST', 'https://api.example.com/charges', 200, 40, '{}', :at - 750 FROM n`,
  ];
  if ("sqlitePath" in target) {
    const db = new Database(target.sqlitePath);
    try {
      db.pragma("busy_timeout = 5000");
      db.transaction(() => {
        for (const text of statements) {
          const series = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) ${text}`;
          db.prepare(series.replaceAll(":p", "@p").replaceAll(":at", "@at").replaceAll(":count", "@count")).run({
            p: prefix,
            at,
            count: plan.count,
          });
        }
      }).immediate();
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: target.databaseUrl, options: `-c search_path=${target.schema}` });
  await client.connect();
  try {
    await client.query("BEGIN");
    for (const text of statements) {
      const series = `WITH n AS (SELECT generate_series(1, $3::int) AS i) ${text}`;
      await client.query(series.replaceAll(":p", "$1::text").replaceAll(":at", "$2::bigint"), [prefix, at, plan.count]);
    }
    await client.query("COMMIT");
    // Fresh statistics, as autovacuum would have after such a load: the planner then sees the table as it is.
    await client.query("ANALYZE runs; ANALYZE events; ANALYZE steps; ANALYZE run_history; ANALYZE audit_log");
  } finally {
    await client.end();
  }
}
