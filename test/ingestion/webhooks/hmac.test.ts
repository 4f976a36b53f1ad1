import { describe, expect, it } from "vitest";
import {
  anySignatureMatches,
  checkTimestamp,
  constantTimeEqual,
  formParamsToObject,
  parseBody,
  parseFormParams,
  parseTimestamp,
} from "../../../src/ingestion/webhooks/hmac.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../src/ingestion/webhooks/webhook-provider.ts";

const now = Date.UTC(2025, 5, 1, 12, 0, 0);

describe("signature comparison", () => {
  it("compares equal-length strings and calls different lengths unequal without throwing", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "a")).toBe(false);
    // Same number of characters, different byte lengths.
    expect(constantTimeEqual("é", "ee")).toBe(false);
  });

  it("matches when any received signature equals any expected one", () => {
    expect(anySignatureMatches(["a", "b"], ["x", "b"])).toBe(true);
    expect(anySignatureMatches(["a", "b"], ["x", "y"])).toBe(false);
    expect(anySignatureMatches([], ["a"])).toBe(false);
    expect(anySignatureMatches(["a"], [])).toBe(false);
  });
});

describe("timestamps", () => {
  it("reads only plain digits", () => {
    expect(parseTimestamp("1748779200")).toBe(1748779200);
    for (const value of ["", " 1", "1e9", "-1", "1.5", "0x10", "12345678901234567"]) {
      expect(parseTimestamp(value)).toBeNull();
    }
  });

  it("allows the tolerance both ways, inclusive, in seconds and in milliseconds", () => {
    const nowSec = now / 1000;
    const options = { secrets: [], now };
    expect(checkTimestamp("T", nowSec - 300, "s", options)).toBeNull();
    expect(checkTimestamp("T", nowSec + 300, "s", options)).toBeNull();
    expect(checkTimestamp("T", nowSec - 301, "s", options)).toMatchObject({ check: "timestamp" });
    expect(checkTimestamp("T", nowSec + 301, "s", options)).toMatchObject({ check: "timestamp" });
    expect(checkTimestamp("T", now - 300_000, "ms", options)).toBeNull();
    expect(checkTimestamp("T", now - 300_001, "ms", options)).toMatchObject({ check: "timestamp" });
    expect(checkTimestamp("T", nowSec - 20, "s", { ...options, toleranceSec: 10 })).toEqual({
      ok: false,
      check: "timestamp",
      message: "T is 20 s in the past; tolerance is ±10 s",
    });
  });

  it("compares second timestamps with whole seconds of now, as the providers' libraries do", () => {
    const nowSec = now / 1000;
    expect(checkTimestamp("T", nowSec - 300, "s", { secrets: [], now: now + 999 })).toBeNull();
  });
});

describe("body parsing", () => {
  const request = (contentType: string | undefined, body: string): WebhookRequest => ({
    method: "POST",
    url: "https://hooks.example.com/x",
    headers: { "content-type": contentType },
    rawBody: Buffer.from(body),
  });

  it("reads JSON whatever the media type parameters, and without a Content-Type", () => {
    expect(parseBody(request("application/json; charset=utf-8", '{"a":1}'))).toEqual({
      kind: "json",
      value: { a: 1 },
      text: '{"a":1}',
    });
    expect(parseBody(request(undefined, "[1]"))).toEqual({ kind: "json", value: [1], text: "[1]" });
  });

  it("reads form fields, keeping repeated names and a __proto__ field as plain data", () => {
    const body = parseBody(request("Application/X-WWW-Form-URLEncoded", "a=1&b=x+y%21&a=2&__proto__=p"));
    expect(body.kind).toBe("form");
    if (body.kind !== "form") return;
    const object = formParamsToObject(body.params);
    expect(object).toEqual({ a: ["1", "2"], b: "x y!", ["__proto__"]: "p" });
    expect(Object.getPrototypeOf(object)).toBe(Object.prototype);
    expect(Object.hasOwn(object, "__proto__")).toBe(true);
  });

  it("keeps an empty value", () => {
    expect(formParamsToObject(parseFormParams("a=&b"))).toEqual({ a: "", b: "" });
  });

  it("throws UnparseableBodyError for a body that is not JSON", () => {
    expect(() => parseBody(request("text/xml", "<a/>"))).toThrow(UnparseableBodyError);
    expect(() => parseBody(request("application/json", ""))).toThrow(/body is not valid JSON/);
  });
});
