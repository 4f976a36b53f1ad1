import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  basicAuthSecret,
  redactBody,
  redactedMarker,
  redactHeaders,
  redactSecrets,
  redactUrl,
  truncateBody,
} from "../../../src/connections/audit/redact.ts";

const apiKey = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

describe("headers", () => {
  it("hide credentials and cookies", () => {
    const headers = {
      authorization: "Bearer abc.def.ghi",
      "proxy-authorization": "Basic dXNlcjpwYXNz",
      cookie: "session=1",
      "set-cookie": ["a=1; HttpOnly", "b=2"],
    };
    expect(redactHeaders(headers)).toEqual({
      authorization: redactedMarker,
      "proxy-authorization": redactedMarker,
      cookie: redactedMarker,
      "set-cookie": redactedMarker,
    });
  });

  it("hide anything named like a key, token, secret, password, signature, auth, session or credential, in any case", () => {
    const names = [
      "X-Api-Key",
      "x-goog-api-key",
      "X-Auth-Token",
      "x-amz-security-token",
      "x-csrf-token",
      "X-Client-Secret",
      "x-password",
      "Stripe-Signature",
      "x-hub-signature-256",
      "X-Session-Id",
      "x-auth",
      "x-amz-credential",
    ];
    const redacted = redactHeaders(Object.fromEntries(names.map((name) => [name, "value"])));
    for (const name of names) expect(redacted[name], name).toBe(redactedMarker);
  });

  it("keep everything else, including headers named like secrets that carry none", () => {
    const headers = {
      "content-type": "application/json",
      "content-length": "42",
      "user-agent": "tenon/0.1",
      "x-request-id": "req_123",
      "x-ratelimit-remaining": "10",
      "x-ratelimit-reset": "1700000000",
      "Idempotency-Key": "run_1:step_2",
      "www-authenticate": 'Bearer error="invalid_token"',
      "access-control-allow-credentials": "true",
      "x-oauth-scopes": "repo, user",
      "keep-alive": "timeout=5",
    };
    expect(redactHeaders(headers)).toEqual(headers);
  });

  it("hide the configured extra names, even one on the keep list", () => {
    const headers = { "X-Tenant": "acme", "Idempotency-Key": "k", accept: "*/*" };
    expect(redactHeaders(headers, { extraNames: ["x-tenant", "IDEMPOTENCY-KEY"] })).toEqual({
      "X-Tenant": redactedMarker,
      "Idempotency-Key": redactedMarker,
      accept: "*/*",
    });
  });

  it("join repeated values, drop absent ones, and hide secret values inside the rest", () => {
    const headers = {
      via: ["1.1 proxy-a", "1.1 proxy-b"],
      "x-absent": undefined,
      location: `https://example.com/cb?echo=${apiKey}`,
      "x-short": "abc12",
    };
    expect(redactHeaders(headers, { secretValues: [apiKey, "abc12"] })).toEqual({
      via: "1.1 proxy-a, 1.1 proxy-b",
      location: `https://example.com/cb?echo=${redactedMarker}`,
      "x-short": "abc12",
    });
  });

  it("keep a header named __proto__ as a header", () => {
    const headers = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    const redacted = redactHeaders(headers);
    expect(Object.keys(redacted)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(redacted)).toBe(Object.prototype);
  });
});

describe("URLs", () => {
  it("lose their secret query parameters and keep the others as they were encoded", () => {
    const url = "https://api.example.com/v1/items?api_key=abc&limit=10&Token=x&q=a%20b+c&sig=s&code=c&sort=name";
    expect(redactUrl(url)).toBe("https://api.example.com/v1/items?limit=10&q=a%20b+c&sort=name");
  });

  it("recognise secret parameters however they are spelled", () => {
    const url = "https://a.example/?accessToken=1&ACCESS-TOKEN=2&Client_Secret=3&apiKey=4&code_verifier=5&ok=1";
    expect(redactUrl(url)).toBe("https://a.example/?ok=1");
  });

  it("lose the configured extra parameters", () => {
    expect(redactUrl("https://a.example/x?tenant_sig=1&page=2", { secretParams: ["Tenant_Sig"] })).toBe(
      "https://a.example/x?page=2",
    );
  });

  it("lose the question mark when no parameter is left", () => {
    expect(redactUrl("https://a.example/x?token=abc")).toBe("https://a.example/x");
  });

  it("lose their user and password", () => {
    expect(redactUrl("https://user:pa%24%24@a.example/x?y=1")).toBe("https://a.example/x?y=1");
    expect(redactUrl(new URL("https://user:pass@a.example:8443/x"))).toBe("https://a.example:8443/x");
    expect(redactUrl("//user@a.example/x")).toBe("//a.example/x");
  });

  it("hide secret values in the path, keeping the rest of the segment", () => {
    const token = "123456:ABC-DEF1234ghIkl";
    expect(redactUrl(`https://api.telegram.org/bot${token}/sendMessage`, { secretValues: [token] })).toBe(
      `https://api.telegram.org/bot${redactedMarker}/sendMessage`,
    );
  });

  it("hide secret values under innocent parameter names, however they were encoded", () => {
    const password = "pa ss/wo+rd!'~";
    const secretValues = [apiKey, password];
    expect(redactUrl(`https://a.example/?q=${apiKey}&n=1`, { secretValues })).toBe(
      `https://a.example/?q=${redactedMarker}&n=1`,
    );
    const url = new URL("https://a.example/");
    url.searchParams.set("state", password);
    url.searchParams.set("n", "1");
    expect(redactUrl(url, { secretValues })).toBe(`https://a.example/?state=${redactedMarker}&n=1`);
    expect(redactUrl(`https://a.example/?state=${encodeURIComponent(password).toLowerCase()}`, { secretValues })).toBe(
      `https://a.example/?state=${redactedMarker}`,
    );
  });

  it("lose secret parameters in the fragment too (OAuth's implicit flow puts tokens there)", () => {
    expect(redactUrl("https://app.example/cb#access_token=abc&state=xyz")).toBe("https://app.example/cb#state=xyz");
    expect(redactUrl("https://app.example/docs#section-2")).toBe("https://app.example/docs#section-2");
  });

  it("work on paths without a scheme or host", () => {
    expect(redactUrl("/v1/items?token=abc&a=1")).toBe("/v1/items?a=1");
  });

  it("keep only where the request went when a secret straddles the parts of the URL", () => {
    const secret = "abc?def&ghi";
    expect(redactUrl(`https://a.example/x/${secret.replace("?", "%3F")}`, { secretValues: [secret] })).toBe(
      `https://a.example/x/${redactedMarker}`,
    );
    expect(redactUrl(`https://a.example/x/abc?def%26ghi`, { secretValues: [secret] })).toBe(
      `https://a.example/${redactedMarker}`,
    );
  });
});

describe("bodies", () => {
  it("hide the values of secret JSON fields at any depth, whatever their case or spelling", () => {
    const body = JSON.stringify({
      user: "ann",
      Password: "hunter2",
      auth: { access_token: "at", refreshToken: "rt", scope: "read" },
      keys: [{ api_key: 1, name: "primary" }, { "private-key": { pem: "----" } }],
      client_secret: null,
    });
    expect(JSON.parse(redactBody(body, { contentType: "application/json; charset=utf-8" }))).toEqual({
      user: "ann",
      Password: redactedMarker,
      auth: { access_token: redactedMarker, refreshToken: redactedMarker, scope: "read" },
      keys: [{ api_key: redactedMarker, name: "primary" }, { "private-key": redactedMarker }],
      client_secret: null,
    });
  });

  it("redact a body the client already parsed exactly as its text, leaving the parsed value as it was", () => {
    const body = JSON.stringify({
      page: [
        { id: 1, note: "ok" },
        { id: 2, auth: { refresh_token: "rt-123456", scope: "read" } },
      ],
      owner: { name: "ann", token: "t" },
    });
    const secretValues = ["rt-123456"];
    const parsed = JSON.parse(body);
    const before = structuredClone(parsed);
    const fromText = redactBody(body, { contentType: "application/json", secretValues });
    expect(redactBody(body, { contentType: "application/json", secretValues, parsed })).toBe(fromText);
    expect(fromText).not.toContain("rt-123456");
    expect(parsed).toEqual(before);
    const plain = '{ "rows": [ { "id": 1 }, { "id": 2 } ] }';
    expect(redactBody(plain, { contentType: "application/json", parsed: JSON.parse(plain) })).toBe(plain);
  });

  it("recognise JSON by a +json type or by its shape", () => {
    const body = '{"token":"t"}';
    const expected = `{"token":"${redactedMarker}"}`;
    expect(redactBody(body, { contentType: "application/vnd.api+json" })).toBe(expected);
    expect(redactBody(body, { contentType: "application/problem+json" })).toBe(expected);
    expect(redactBody(body)).toBe(expected);
    expect(redactBody(` [${body}]`, { contentType: "text/plain" })).toBe(`[${expected}]`);
  });

  it("hide the configured extra fields", () => {
    expect(redactBody('{"pin":"1234","ssn":"x","name":"n"}', { extraFields: ["PIN", "ssn"] })).toBe(
      `{"pin":"${redactedMarker}","ssn":"${redactedMarker}","name":"n"}`,
    );
  });

  it("find secret fields however the key is spelled or escaped, also in a body that looks clean at first sight", () => {
    const bodies: Array<[string, string]> = [
      ['{"data":{"Access-Token" :"a"}}', `{"data":{"Access-Token":"${redactedMarker}"}}`],
      ['{"_client__SECRET_":"a"}', `{"_client__SECRET_":"${redactedMarker}"}`],
      ['{"pass\\u0077ord":"a"}', `{"password":"${redactedMarker}"}`],
      // The Kelvin sign lower-cases to "k": the key is api_key to a name matcher, though not to ASCII eyes.
      ['{"api_\u212aey":"a","name":"é"}', `{"api_\u212aey":"${redactedMarker}","name":"é"}`],
      ['{"pin":"1234"}', `{"pin":"${redactedMarker}"}`],
    ];
    for (const [body, expected] of bodies) {
      expect(redactBody(body, { contentType: "application/json", extraFields: ["p-i-n"] }), body).toBe(expected);
    }
  });

  it("leave JSON with nothing secret exactly as it was, formatting and large numbers included", () => {
    const body = '{\n  "id": 12345678901234567890,\n  "name": "widget"\n}';
    expect(redactBody(body, { contentType: "application/json", secretValues: [apiKey] })).toBe(body);
  });

  it("hide secret fields in JSON that does not parse, such as a body cut short", () => {
    expect(redactBody('{"user":"ann","password":"hun\\"ter2', { contentType: "application/json" })).toBe(
      `{"user":"ann","password":"${redactedMarker}"`,
    );
    expect(redactBody('{"token": "abc", "note": "x",', { contentType: "application/json" })).toBe(
      `{"token": "${redactedMarker}", "note": "x",`,
    );
  });

  it("hide the values of secret form fields and keep the others as they were encoded", () => {
    const body = "grant_type=refresh_token&refresh_token=abc%2Fdef&client_id=my+app&client_secret=s";
    expect(redactBody(body, { contentType: "application/x-www-form-urlencoded" })).toBe(
      `grant_type=refresh_token&refresh_token=${redactedMarker}&client_id=my+app&client_secret=${redactedMarker}`,
    );
  });

  it("hide secret values whatever the content type", () => {
    expect(redactBody(`<p>your key is ${apiKey}</p>`, { contentType: "text/html", secretValues: [apiKey] })).toBe(
      `<p>your key is ${redactedMarker}</p>`,
    );
    expect(redactBody(JSON.stringify({ echo: `key=${apiKey}` }), { secretValues: [apiKey] })).toBe(
      `{"echo":"key=${redactedMarker}"}`,
    );
  });

  it("hide secret values that another JSON encoder escaped its own way (\\u00e9 for é, \\/ for /)", () => {
    const secret = "café/crème";
    const bodies = ['{"echo":"caf\\u00e9\\/cr\\u00e8me"}', '{"echo":"caf\\u00e9/cr\\u00e8me"}'];
    for (const body of bodies) {
      expect(redactBody(body, { contentType: "application/json", secretValues: [secret] })).toBe(
        `{"echo":"${redactedMarker}"}`,
      );
    }
  });

  it("hide secret values that JSON escaping changed, even in JSON that does not parse", () => {
    const password = 'pa"ss\\word';
    const escaped = JSON.stringify({ note: password }).slice(0, -1);
    expect(redactBody(escaped, { contentType: "application/json", secretValues: [password] })).toBe(
      `{"note":"${redactedMarker}"`,
    );
  });
});

describe("secret values", () => {
  it("are replaced wherever they occur, the longest first", () => {
    expect(redactSecrets("abcdefghij then abcdef", ["abcdef", "abcdefghij"])).toBe(
      `${redactedMarker} then ${redactedMarker}`,
    );
  });

  it("are also found percent-encoded, form-encoded and JSON-escaped", () => {
    const secret = 'p@ss w/rd!"';
    const text = [
      encodeURIComponent(secret),
      new URLSearchParams({ x: secret }).toString(),
      JSON.stringify(secret),
    ].join(" ");
    expect(redactSecrets(text, [secret])).toBe(`${redactedMarker} x=${redactedMarker} "${redactedMarker}"`);
  });

  it("never line up into another secret around a replacement", () => {
    // "[REDACTED]tail1" holds the second secret; it is replaced in turn, and the rest of the text survives.
    expect(redactSecrets("hunter2! and hunter2!tail1", ["hunter2!", "D]tail1"])).toBe(
      `${redactedMarker} and [REDACTE${redactedMarker}`,
    );
  });

  it("shorter than 6 characters are left alone, so they cannot mangle the text", () => {
    expect(redactSecrets("status: true, year: 2024", ["true", "2024", ""])).toBe("status: true, year: 2024");
  });

  it("include the Basic credential of a user and password when the caller adds it", () => {
    // RFC 7617 §2's example.
    expect(basicAuthSecret("Aladdin", "open sesame")).toBe("QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    const secret = basicAuthSecret("Aladdin", "open sesame");
    expect(redactSecrets("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", [secret])).toBe(`Basic ${redactedMarker}`);
  });
});

describe("truncating bodies", () => {
  it("leaves a body within the limit unchanged", () => {
    expect(truncateBody("abcd", 4)).toBe("abcd");
    expect(truncateBody("", 0)).toBe("");
  });

  it("cuts at the byte limit and says how long the whole was", () => {
    expect(truncateBody("abcdefghij", 4)).toBe("abcd…[truncated, 10 bytes total]");
    expect(truncateBody("abcdefghij", 0)).toBe("…[truncated, 10 bytes total]");
  });

  it("never splits a character", () => {
    expect(truncateBody("héllo", 2)).toBe("h…[truncated, 6 bytes total]");
    expect(truncateBody("héllo", 3)).toBe("hé…[truncated, 6 bytes total]");
    expect(truncateBody("😀😀", 7)).toBe("😀…[truncated, 8 bytes total]");
  });
});

// ------------------------------------------------------------------------------------------ properties

/** Secrets of arbitrary Unicode, and of the characters that encodings and URLs treat specially. */
const secretArb = fc
  .oneof(
    fc.string({ unit: "binary", minLength: 6, maxLength: 24 }),
    fc.string({ unit: fc.constantFrom(..."aZ09 %+&=?#/\\\"'[]{}:@;,~!*()<>\n\té€😀"), minLength: 6, maxLength: 24 }),
  )
  .filter((secret) => secret.length >= 6 && !redactedMarker.includes(secret));

const textArb = fc.string({ unit: "binary", maxLength: 12 });

/** Decodes %XX runs as UTF-8 without ever throwing, as a reader of the audit trail might. */
function percentDecode(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => Buffer.from(run.replaceAll("%", ""), "hex").toString("utf8"));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function expectHidden(output: string, secret: string): void {
  expect(output).not.toContain(secret);
  expect(percentDecode(output)).not.toContain(secret);
  expect(percentDecode(output.replaceAll("+", " "))).not.toContain(secret);
  expect(output).not.toContain(JSON.stringify(secret).slice(1, -1));
}

describe("no redacted output ever shows a secret", () => {
  it("in JSON bodies, wherever the secret sits", () => {
    const placed = fc
      .tuple(textArb, textArb, fc.array(fc.oneof(fc.constant(null), fc.string()), { maxLength: 4 }))
      .map(([before, after, path]) => ({ before, after, path }));
    fc.assert(
      fc.property(
        secretArb,
        fc.jsonValue(),
        placed,
        fc.boolean(),
        fc.constantFrom(undefined, "application/json", "text/plain"),
        fc.boolean(),
        (secret, base, { before, after, path }, asKey, contentType, asciiOnly) => {
          let value: unknown = asKey ? { [`${before}${secret}${after}`]: 1 } : `${before}${secret}${after}`;
          for (const step of path) value = step === null ? [value] : { [step]: value };
          const json = JSON.stringify({ base, value });
          // As Python's json.dumps writes it by default: every non-ASCII character as \uXXXX.
          const body = asciiOnly
            ? json.replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
            : json;
          const output = redactBody(body, { contentType, secretValues: [secret] });
          expectHidden(output, secret);
          // And as a JSON reader sees it, escapes resolved (unless a secret that spans JSON syntax was cut out of it).
          const parsed = parseJson(output);
          if (parsed !== undefined) expectHidden(JSON.stringify(parsed), secret);
        },
      ),
    );
  });

  it("in form bodies", () => {
    fc.assert(
      fc.property(secretArb, fc.array(fc.tuple(textArb, textArb), { maxLength: 4 }), textArb, (secret, pairs, name) => {
        const body = new URLSearchParams([...pairs, [name, `x${secret}y`], ...pairs]).toString();
        const output = redactBody(body, { contentType: "application/x-www-form-urlencoded", secretValues: [secret] });
        expectHidden(output, secret);
      }),
    );
  });

  it("in header values", () => {
    fc.assert(
      fc.property(
        secretArb,
        fc.dictionary(fc.string(), fc.oneof(textArb, fc.array(textArb, { maxLength: 3 }))),
        fc.string({ minLength: 1 }),
        textArb,
        (secret, headers, name, before) => {
          const withSecret = { ...headers, [name]: [`${before}${secret}`, "z"] };
          const output = redactHeaders(withSecret, { secretValues: [secret] });
          for (const value of Object.values(output)) expectHidden(value, secret);
        },
      ),
    );
  });

  it("in URLs, wherever the secret sits and however it was encoded", () => {
    const places = ["path-encoded", "path-raw", "query-value", "query-name", "userinfo", "fragment", "raw"] as const;
    fc.assert(
      fc.property(
        secretArb,
        fc.constantFrom(...places),
        fc.array(fc.tuple(textArb, textArb), { maxLength: 3 }),
        textArb,
        (secret, place, params, around) => {
          const url = new URL("https://api.example.com/v1/");
          for (const [name, value] of params) url.searchParams.append(name, value);
          const embedded = `${around}${secret}${around}`;
          if (place === "path-encoded") url.pathname = `/v1/${encodeURIComponent(embedded)}/items`;
          if (place === "path-raw") url.pathname = `/v1/${embedded}/items`;
          if (place === "query-value") url.searchParams.append("q", embedded);
          if (place === "query-name") url.searchParams.append(embedded, "1");
          if (place === "userinfo") url.password = embedded;
          if (place === "fragment") url.hash = `state=${encodeURIComponent(embedded)}`;
          const input = place === "raw" ? `https://api.example.com/v1/${embedded}?${url.searchParams}` : url;
          expectHidden(redactUrl(input, { secretValues: [secret] }), secret);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("in any text passed through redactSecrets", () => {
    fc.assert(
      fc.property(secretArb, secretArb, fc.array(textArb, { maxLength: 4 }), (secret, other, pieces) => {
        const text = pieces.join(secret) + other + secret;
        const output = redactSecrets(text, [other, secret]);
        expect(output).not.toContain(secret);
        expect(output).not.toContain(other);
      }),
    );
  });
});

describe("a truncated body", () => {
  const marker = (total: number) => `…[truncated, ${total} bytes total]`;

  it("is valid UTF-8, within the limit plus the marker, and the longest prefix of the input that fits", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), fc.nat({ max: 120 }), (text, limit) => {
        const output = truncateBody(text, limit);
        expect(Buffer.from(output, "utf8").toString("utf8")).toBe(output);
        const total = Buffer.byteLength(text);
        if (total <= limit) {
          expect(output).toBe(text);
          return;
        }
        expect(output.endsWith(marker(total))).toBe(true);
        const kept = output.slice(0, -marker(total).length);
        expect(text.startsWith(kept)).toBe(true);
        expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(limit);
        expect(Buffer.byteLength(output)).toBeLessThanOrEqual(limit + Buffer.byteLength(marker(total)));
        const next = String.fromCodePoint(text.codePointAt(kept.length) ?? 0);
        expect(Buffer.byteLength(kept + next)).toBeGreaterThan(limit);
      }),
    );
  });

  it("is a prefix of the input and never splits a surrogate pair, even in text with lone surrogates", () => {
    const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) });
    fc.assert(
      fc.property(utf16, fc.nat({ max: 60 }), (text, limit) => {
        const output = truncateBody(text, limit);
        const total = Buffer.byteLength(text);
        const kept = total <= limit ? output : output.slice(0, -marker(total).length);
        expect(text.startsWith(kept)).toBe(true);
        const last = kept.charCodeAt(kept.length - 1);
        const next = text.charCodeAt(kept.length);
        expect(last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff).toBe(false);
      }),
    );
  });
});
