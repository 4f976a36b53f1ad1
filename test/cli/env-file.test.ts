import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { dotenvValue, writeDotenvFile } from "../../src/cli/sandbox/env-file.ts";

let directory: string | undefined;
afterEach(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

describe("the sandbox's dotenv file", () => {
  const environment = {
    PLAIN: "shpat_0123abcd",
    BASE64: "whsec_a+b/c==",
    URL: "http://127.0.0.1:4010/crm?x=1&y=2",
    COMMENT_AND_DOLLAR: "a#b $HOME `x` c",
  };

  it("reads back the same through Node's dotenv parser and a POSIX shell", () => {
    directory = mkdtempSync(join(tmpdir(), "tenon-env-"));
    const path = join(directory, "sandbox.env");
    writeDotenvFile(path, environment);
    expect(parseEnv(readFileSync(path, "utf8"))).toEqual(environment);
    const fromShell = execFileSync("sh", ["-c", `set -a; . "${path}"; printf '%s\\n' "$URL" "$COMMENT_AND_DOLLAR"`], {
      encoding: "utf8",
    });
    expect(fromShell).toBe(`${environment.URL}\n${environment.COMMENT_AND_DOLLAR}\n`);
  });

  it("refuses a value with a quote or a line break rather than write it wrong", () => {
    expect(() => dotenvValue("X", "it's")).toThrow(/X holds a quote or a line break/);
    expect(() => dotenvValue("X", "a\nb")).toThrow(/X holds a quote or a line break/);
  });
});
