import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.ts";

describe("the process logger", () => {
  it("writes a line's own fields outside any run, and one line's fields never leak into the next", async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const logger = await createLogger({ level: "info", destination });

    logger.info({ path: "/work/project/tenon.config.ts" }, "config loaded");
    logger.info("no fields");

    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => [line.msg, line.path])).toEqual([
      ["config loaded", "/work/project/tenon.config.ts"],
      ["no fields", undefined],
    ]);
    expect(lines[1]).not.toHaveProperty("run_id");
  });
});
