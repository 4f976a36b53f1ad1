import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { postgresUrl } from "./backends.ts";

/** Everything the database holds, as text: the SQLite file and its WAL byte for byte, or a pg_dump of the schema. */
export async function databaseContents(backend: "sqlite" | "postgres", env: Record<string, string>): Promise<string> {
  if (backend === "sqlite") {
    const path = env.TENON_SQLITE_PATH as string;
    return [path, `${path}-wal`]
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString("latin1"))
      .join("\n");
  }
  return execFileSync("pg_dump", ["--dbname", postgresUrl, "--schema", env.TENON_POSTGRES_SCHEMA as string], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
}
