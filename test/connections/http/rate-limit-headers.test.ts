import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readRateLimitHeaders } from "../../../src/connections/http/rate-limit-headers.ts";

const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const nowSeconds = now / 1000;
const day = 24 * 3_600_000;

describe("Retry-After (RFC 9110 §10.2.3)", () => {
  it("pauses a 429 for the delay in seconds", () => {
    expect(readRateLimitHeaders(429, { "retry-after": "30" }, now)).toEqual({ pausedUntil: now + 30_000 });
  });

  it("pauses a 503 until an HTTP-date, in each of its three formats, always in UTC", () => {
    const at = Date.UTC(2025, 5, 1, 12, 2, 0);
    for (const date of [
      "Sun, 01 Jun 2025 12:02:00 GMT",
      "Sunday, 01-Jun-25 12:02:00 GMT",
      "Sun Jun  1 12:02:00 2025",
    ]) {
      expect(readRateLimitHeaders(503, { "retry-after": date }, now), date).toEqual({ pausedUntil: at });
    }
  });

  it("is honoured whatever the status", () => {
    expect(readRateLimitHeaders(200, { "retry-after": "5" }, now)).toEqual({ pausedUntil: now + 5000 });
    expect(readRateLimitHeaders(301, { "Retry-After": "5" }, now)).toEqual({ pausedUntil: now + 5000 });
  });

  it("of zero, or a date already past, pauses a 429 until now and says nothing on other statuses", () => {
    expect(readRateLimitHeaders(429, { "retry-after": "0" }, now)).toEqual({ pausedUntil: now });
    expect(readRateLimitHeaders(429, { "retry-after": "Sun, 01 Jun 2025 11:00:00 GMT" }, now)).toEqual({
      pausedUntil: now,
    });
    expect(readRateLimitHeaders(503, { "retry-after": "0" }, now)).toBeNull();
    expect(readRateLimitHeaders(200, { "retry-after": "Sun, 01 Jun 2025 11:00:00 GMT" }, now)).toBeNull();
  });

  it("never pauses for more than 24 hours", () => {
    expect(readRateLimitHeaders(429, { "retry-after": "999999999999" }, now)).toEqual({ pausedUntil: now + day });
    expect(readRateLimitHeaders(503, { "retry-after": "Fri, 01 Jan 2100 00:00:00 GMT" }, now)).toEqual({
      pausedUntil: now + day,
    });
  });

  it("is ignored when malformed; a 429 then pauses for one second", () => {
    for (const value of ["-5", "soon", "1e3", "0x10", "", "12 seconds", "Sun, 32 Jun 2025 12:00:00 GMT"]) {
      expect(readRateLimitHeaders(429, { "retry-after": value }, now), value).toEqual({ pausedUntil: now + 1000 });
      expect(readRateLimitHeaders(200, { "retry-after": value }, now), value).toBeNull();
    }
  });
});

describe("a 429 with no hint", () => {
  it("pauses for one second", () => {
    expect(readRateLimitHeaders(429, {}, now)).toEqual({ pausedUntil: now + 1000 });
  });

  it("waits for the nearest reported reset when the API refuses although its headers show quota left", () => {
    const headers = { "x-ratelimit-remaining": "40", "x-ratelimit-reset": "20" };
    expect(readRateLimitHeaders(429, headers, now)).toEqual({ pausedUntil: now + 20_000 });
  });
});

describe("X-RateLimit-Remaining with X-RateLimit-Reset", () => {
  it("pauses until the reset when nothing is left (GitHub: reset in epoch seconds)", () => {
    const headers = {
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset": `${nowSeconds + 600}`,
    };
    expect(readRateLimitHeaders(403, headers, now)).toEqual({ pausedUntil: now + 600_000 });
    expect(readRateLimitHeaders(200, headers, now)).toEqual({ pausedUntil: now + 600_000 });
  });

  it("spreads what is left until the reset", () => {
    expect(readRateLimitHeaders(200, { "x-ratelimit-remaining": "50", "x-ratelimit-reset": "10" }, now)).toEqual({
      slowRatePerSecond: 5,
      slowUntil: now + 10_000,
    });
  });

  it("reads the reset as delta seconds, epoch seconds or epoch milliseconds, by size", () => {
    const pausedUntil = (reset: string) =>
      readRateLimitHeaders(200, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }, now)?.pausedUntil;
    expect(pausedUntil("30")).toBe(now + 30_000);
    expect(pausedUntil(`${nowSeconds + 30}`)).toBe(now + 30_000);
    expect(pausedUntil(`${nowSeconds + 30.5}`)).toBe(now + 30_500);
    expect(pausedUntil(`${now + 30_000}`)).toBe(now + 30_000);
    expect(pausedUntil("Sun, 01 Jun 2025 12:00:30 GMT")).toBe(now + 30_000);
  });

  it("also reads X-Rate-Limit-* (Twitter/X) and any capitalisation", () => {
    expect(
      readRateLimitHeaders(200, { "x-rate-limit-remaining": "0", "x-rate-limit-reset": `${nowSeconds + 60}` }, now),
    ).toEqual({ pausedUntil: now + 60_000 });
    expect(readRateLimitHeaders(200, { "X-RateLimit-Remaining": "0", "X-RATELIMIT-RESET": "60" }, now)).toEqual({
      pausedUntil: now + 60_000,
    });
  });

  it("reads the first of repeated lines", () => {
    expect(readRateLimitHeaders(200, { "x-ratelimit-remaining": ["0", "7"], "x-ratelimit-reset": ["5"] }, now)).toEqual(
      {
        pausedUntil: now + 5000,
      },
    );
  });

  it("takes a negative remaining as exhausted (some APIs count the overdraft)", () => {
    expect(readRateLimitHeaders(200, { "x-ratelimit-remaining": "-3", "x-ratelimit-reset": "5" }, now)).toEqual({
      pausedUntil: now + 5000,
    });
  });

  it("says nothing without a reset, or with a reset already past, or with malformed values", () => {
    expect(readRateLimitHeaders(200, { "x-ratelimit-remaining": "0" }, now)).toBeNull();
    expect(
      readRateLimitHeaders(200, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": `${nowSeconds - 5}` }, now),
    ).toBeNull();
    for (const [remaining, reset] of [
      ["lots", "10"],
      ["NaN", "10"],
      ["5", "-10"],
      ["5", "soon"],
      ["", ""],
      ["Infinity", "10"],
    ]) {
      expect(
        readRateLimitHeaders(200, { "x-ratelimit-remaining": remaining, "x-ratelimit-reset": reset }, now),
      ).toBeNull();
    }
  });

  it("never looks further than 24 hours ahead", () => {
    expect(readRateLimitHeaders(200, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "999999" }, now)).toEqual({
      pausedUntil: now + day,
    });
    expect(readRateLimitHeaders(200, { "x-ratelimit-remaining": "8640", "x-ratelimit-reset": "999999" }, now)).toEqual({
      slowRatePerSecond: 0.1,
      slowUntil: now + day,
    });
  });
});

describe("vendor-prefixed forms (HubSpot)", () => {
  it("takes the interval as the time left, since the reset is somewhere within it", () => {
    const headers = {
      "x-hubspot-ratelimit-max": "100",
      "x-hubspot-ratelimit-interval-milliseconds": "10000",
      "x-hubspot-ratelimit-remaining": "0",
    };
    expect(readRateLimitHeaders(429, headers, now)).toEqual({ pausedUntil: now + 10_000 });
    expect(readRateLimitHeaders(200, { ...headers, "x-hubspot-ratelimit-remaining": "40" }, now)).toEqual({
      slowRatePerSecond: 4,
      slowUntil: now + 10_000,
    });
  });

  it("ignores quotas it cannot place in time (HubSpot's daily remaining has no reset)", () => {
    expect(readRateLimitHeaders(200, { "x-hubspot-ratelimit-daily-remaining": "0" }, now)).toBeNull();
  });
});

describe("RateLimit fields (draft-ietf-httpapi-ratelimit-headers)", () => {
  it("reads RateLimit-Remaining and RateLimit-Reset in delta seconds (drafts 00 to 06)", () => {
    const headers = { "ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": "7" };
    expect(readRateLimitHeaders(200, headers, now)).toEqual({ pausedUntil: now + 7000 });
    expect(readRateLimitHeaders(200, { ...headers, "ratelimit-remaining": "14" }, now)).toEqual({
      slowRatePerSecond: 2,
      slowUntil: now + 7000,
    });
  });

  it("reads the single RateLimit dictionary (draft 07)", () => {
    expect(readRateLimitHeaders(200, { ratelimit: "limit=100, remaining=0, reset=5" }, now)).toEqual({
      pausedUntil: now + 5000,
    });
    expect(
      readRateLimitHeaders(200, { RateLimit: "limit=100, remaining=25, reset=5", "ratelimit-policy": "100;w=10" }, now),
    ).toEqual({
      slowRatePerSecond: 5,
      slowUntil: now + 5000,
    });
  });

  it("reads named quotas with r and t (draft 08 and later)", () => {
    expect(readRateLimitHeaders(200, { ratelimit: '"default";r=0;t=5' }, now)).toEqual({ pausedUntil: now + 5000 });
    expect(
      readRateLimitHeaders(200, { ratelimit: '"default";r=30;t=10', "ratelimit-policy": '"default";q=100;w=60' }, now),
    ).toEqual({ slowRatePerSecond: 3, slowUntil: now + 10_000 });
  });

  it("falls back to the policy's window when t is absent (draft 08 and later)", () => {
    const headers = { ratelimit: '"burst";r=0', "ratelimit-policy": '"burst";q=100;w=10, "daily";q=1000;w=86400' };
    expect(readRateLimitHeaders(200, headers, now)).toEqual({ pausedUntil: now + 10_000 });
    expect(readRateLimitHeaders(200, { ratelimit: '"burst";r=0' }, now)).toBeNull();
  });

  it("pauses for the latest exhausted quota and paces by the slowest of the others", () => {
    const headers = {
      ratelimit: '"burst";r=0;t=1, "hourly";r=360;t=3600, "daily";r=100;t=7200, "spent";r=0;t=30',
    };
    expect(readRateLimitHeaders(200, headers, now)).toEqual({
      pausedUntil: now + 30_000,
      slowRatePerSecond: 100 / 7200,
      slowUntil: now + 7_200_000,
    });
  });

  it("accepts repeated RateLimit lines as one list", () => {
    expect(readRateLimitHeaders(200, { ratelimit: ['"a";r=10;t=10', '"b";r=0;t=20'] }, now)).toEqual({
      pausedUntil: now + 20_000,
    });
  });

  it("copes with a field listing a great many quotas", () => {
    const members = Array.from({ length: 200_000 }, (_, index) => `"q${index}";r=${index % 7};t=${1 + (index % 50)}`);
    expect(readRateLimitHeaders(200, { ratelimit: members.join(", ") }, now)).toEqual({ pausedUntil: now + 50_000 });
  });

  it("ignores members it cannot read", () => {
    for (const value of [
      '"default";r=x;t=5',
      '"default";t=5',
      "remaining=abc, reset=5",
      ";;;,,,",
      '"unterminated;r=0;t=5',
    ]) {
      expect(readRateLimitHeaders(200, { ratelimit: value }, now), value).toBeNull();
    }
  });
});

describe("combining sources", () => {
  it("keeps the latest pause when Retry-After and an exhausted quota disagree", () => {
    const headers = { "retry-after": "30", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "60" };
    expect(readRateLimitHeaders(429, headers, now)).toEqual({ pausedUntil: now + 60_000 });
    expect(readRateLimitHeaders(429, { ...headers, "retry-after": "90" }, now)).toEqual({ pausedUntil: now + 90_000 });
  });

  it("paces only by quotas whose window outlasts the pause", () => {
    const headers = { "retry-after": "60", ratelimit: '"a";r=5;t=10' };
    expect(readRateLimitHeaders(429, headers, now)).toEqual({ pausedUntil: now + 60_000 });
    expect(readRateLimitHeaders(429, { ...headers, ratelimit: '"a";r=5;t=10, "b";r=5;t=100' }, now)).toEqual({
      pausedUntil: now + 60_000,
      slowRatePerSecond: 0.05,
      slowUntil: now + 100_000,
    });
  });

  it("says nothing about an ordinary response", () => {
    expect(readRateLimitHeaders(200, { "content-type": "application/json", "content-length": "2" }, now)).toBeNull();
    expect(readRateLimitHeaders(500, {}, now)).toBeNull();
  });
});

describe("headers from the outside world", () => {
  const interestingNames = [
    "retry-after",
    "Retry-After",
    "x-ratelimit-remaining",
    "X-RateLimit-Reset",
    "x-rate-limit-reset",
    "x-hubspot-ratelimit-remaining",
    "x-hubspot-ratelimit-interval-milliseconds",
    "ratelimit",
    "RateLimit-Policy",
    "ratelimit-remaining",
    "ratelimit-reset",
    "__proto__",
    "constructor",
  ];
  const numberish = fc.oneof(
    fc.integer({ min: -1e6, max: 1e6 }).map(String),
    fc.double().map(String),
    fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).map(String),
    fc.constantFrom("", " ", "NaN", "Infinity", "-0", "1e400", `${nowSeconds}`, `${now}`),
  );
  const structured = fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom('"default"', "default", '"', "limit=1", "remaining=0", "reset=5"), fc.string()),
        fc.array(fc.tuple(fc.constantFrom("r", "t", "q", "w", "x", ""), numberish), { maxLength: 4 }),
      ),
      { maxLength: 4 },
    )
    .map((members) =>
      members.map(([item, params]) => [item, ...params.map(([key, value]) => `${key}=${value}`)].join(";")).join(", "),
    );
  const value = fc.oneof(
    numberish,
    structured,
    fc.string({ unit: "binary" }),
    fc.date().map((date) => date.toUTCString()),
  );
  const headerMap = fc.dictionary(
    fc.oneof(fc.constantFrom(...interestingNames), fc.string()),
    fc.oneof(value, fc.array(value, { maxLength: 3 }), fc.constant(undefined)),
  );

  it("never throw, and never advise anything outside the next 24 hours", () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), headerMap, (status, headers) => {
        const advice = readRateLimitHeaders(status, headers, now);
        if (status === 429) expect(advice?.pausedUntil).toBeDefined();
        if (advice === null) return;
        expect(Object.keys(advice).length).toBeGreaterThan(0);
        if (advice.pausedUntil !== undefined) {
          expect(advice.pausedUntil).toBeGreaterThanOrEqual(now);
          expect(advice.pausedUntil).toBeLessThanOrEqual(now + day);
        }
        if (advice.slowRatePerSecond !== undefined || advice.slowUntil !== undefined) {
          expect(advice.slowRatePerSecond).toBeGreaterThan(0);
          expect(Number.isFinite(advice.slowRatePerSecond)).toBe(true);
          expect(advice.slowUntil).toBeGreaterThan(advice.pausedUntil ?? now);
          expect(advice.slowUntil).toBeLessThanOrEqual(now + day);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
