import { type RawBuilder, sql } from "kysely";

/**
 * `last_error` contains `text`, ignoring case: the same SQL on both backends. `%`, `_` and `\` in the text are
 * matched as themselves. SQLite's lower() folds ASCII letters only, PostgreSQL's every letter. No index helps a
 * substring: each run the other conditions select is read and tested.
 */
/** The longest text the API filters by (`error=`): an error is matched by a phrase of it, not pasted whole. */
export const maxErrorTextLength = 200;

export function errorContains(text: string): RawBuilder<boolean> {
  const escaped = text.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`);
  return sql<boolean>`lower(last_error) LIKE ${`%${escaped}%`} ESCAPE '\\'`;
}
