import { describe, expect, it } from "vitest";
import { inBothDialects, lockedOnPostgres, numberPlaceholders } from "../../src/storage/transitions/dialects.ts";

describe("a transition's SQL written once for both dialects", () => {
  it("numbers SQLite's ? placeholders $1..$n for PostgreSQL, in order of appearance", () => {
    expect(inBothDialects("UPDATE runs SET status = ?, updated_at = ? WHERE id = ? AND lease_token = ?")).toEqual({
      sqlite: "UPDATE runs SET status = ?, updated_at = ? WHERE id = ? AND lease_token = ?",
      postgres: "UPDATE runs SET status = $1, updated_at = $2 WHERE id = $3 AND lease_token = $4",
    });
  });

  it("leaves a ? inside a string literal alone", () => {
    expect(numberPlaceholders("SELECT 'why?' AS q, 'it''s?' AS r FROM runs WHERE id = ?")).toBe(
      "SELECT 'why?' AS q, 'it''s?' AS r FROM runs WHERE id = $1",
    );
  });

  it("adds PostgreSQL's row lock to a read that is otherwise the same", () => {
    expect(lockedOnPostgres("SELECT status FROM connections WHERE id = ?", "FOR SHARE")).toEqual({
      sqlite: "SELECT status FROM connections WHERE id = ?",
      postgres: "SELECT status FROM connections WHERE id = $1 FOR SHARE",
    });
  });
});
