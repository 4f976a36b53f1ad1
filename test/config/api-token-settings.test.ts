import { describe, expect, it } from "vitest";
import { readSettings } from "../../src/config/settings.ts";

describe("TENON_API_TOKENS", () => {
  it("gives a token a name and a role with name:role:token, and keeps a bare token an admin", () => {
    const { apiTokens } = readSettings({ TENON_API_TOKENS: "ci:operator:tok-1, board:viewer:a:b:c ,legacy" });
    expect(apiTokens).toEqual([
      { name: "ci", role: "operator", token: "tok-1" },
      // Only the first two colons separate: the token itself may hold more.
      { name: "board", role: "viewer", token: "a:b:c" },
      { name: "env-3", role: "admin", token: "legacy" },
    ]);
  });

  it("refuses a misspelt role rather than reading the entry as a bare admin token, without echoing the token", () => {
    const read = () => readSettings({ TENON_API_TOKENS: "ci:operater:s3cret-token" });
    expect(read).toThrow(/entry 1 has the role "operater"; use name:role:token with a role of viewer, operator, admin/);
    expect(read).not.toThrow(/s3cret-token/);
  });

  it("refuses a name used twice and a name with spaces or slashes", () => {
    expect(() => readSettings({ TENON_API_TOKENS: "ci:viewer:one,ci:admin:two" })).toThrow(/names "ci" twice/);
    expect(() => readSettings({ TENON_API_TOKENS: "a/b:viewer:one" })).toThrow(/entry 1 has the name "a\/b"/);
  });
});
