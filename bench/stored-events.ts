/**
 * What a Tenon server under bench left in its database, read after it stopped: the proof that every acknowledged
 * webhook was stored, and how its runs ended.
 */
import Database from "better-sqlite3";
import pg from "pg";

export interface Stored {
  /** The dedup keys (provider event ids) of the events stored for the source. */
  eventIds: Set<string>;
  /** Runs by status. */
  runs: Record<string, number>;
}

export async function withPg<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function readStoredSqlite(path: string, source: string): Stored {
  // Not read-only: a server that was killed leaves its WAL behind, which only a writer may recover.
  const db = new Database(path);
  try {
    const keys = db.prepare("SELECT dedup_key FROM events WHERE source = ?").pluck().all(source) as string[];
    const runs = db.prepare("SELECT status, count(*) AS n FROM runs GROUP BY status").all() as {
      status: string;
      n: number;
    }[];
    return { eventIds: new Set(keys), runs: Object.fromEntries(runs.map((r) => [r.status, r.n])) };
  } finally {
    db.close();
  }
}

export function readStoredPostgres(databaseUrl: string, schema: string, source: string): Promise<Stored> {
  return withPg(databaseUrl, async (client) => {
    const events = await client.query<{ dedup_key: string }>(
      `SELECT dedup_key FROM "${schema}".events WHERE source = $1`,
      [source],
    );
    const runs = await client.query<{ status: string; n: string }>(
      `SELECT status, count(*) AS n FROM "${schema}".runs GROUP BY status`,
    );
    return {
      eventIds: new Set(events.rows.map((r) => r.dedup_key)),
      runs: Object.fromEntries(runs.rows.map((r) => [r.status, Number(r.n)])),
    };
  });
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  await withPg(databaseUrl, (client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}
