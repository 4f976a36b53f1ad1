import { describe, expect, it } from "vitest";
import { assertConfig } from "../../src/config/define-config.ts";

describe("connections in the config", () => {
  it("accepts connections and names the file when one is wrong", () => {
    const crm = { baseUrl: "https://crm.example.com", auth: { type: "bearer" } };
    expect(() => assertConfig({ integrations: [], connections: { crm } }, "tenon.config.ts")).not.toThrow();
    expect(() => assertConfig({ integrations: [], connections: [] }, "tenon.config.ts")).toThrow(
      'tenon.config.ts: "connections" must be an object',
    );
    expect(() =>
      assertConfig(
        { integrations: [], connections: { crm: { ...crm, baseUrl: "crm.example.com" } } },
        "tenon.config.ts",
      ),
    ).toThrow('tenon.config.ts: connection "crm": baseUrl must be an http(s) URL');
    expect(() => assertConfig({ integrations: [], connections: { CRM: crm } }, "tenon.config.ts")).toThrow(
      'tenon.config.ts: connection "CRM": names are',
    );
  });
});
