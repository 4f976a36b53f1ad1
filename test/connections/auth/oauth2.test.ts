import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  finishAuthorization,
  type OAuthExchange,
  type OAuthOptions,
  OAuthRejectedError,
  refreshAccessToken,
  requestClientCredentialsToken,
  startAuthorization,
  type TokenSet,
} from "../../../src/connections/auth/oauth2.ts";
import type {
  OAuth2AuthorizationCodeConfig,
  OAuth2ClientCredentialsConfig,
} from "../../../src/connections/connection-config.ts";
import { NonRetryableError, RetryableError } from "../../../src/sdk/errors.ts";
import { OAuthTestServer } from "../../support/oauth-server.ts";

const redirectUri = "http://127.0.0.1:3000/oauth/crm/callback";
const now = () => Date.UTC(2026, 0, 1, 12, 0, 0);
const options: OAuthOptions = { now };

let server: OAuthTestServer;

beforeEach(async () => {
  server = new OAuthTestServer({ redirectUris: [redirectUri], allowedScopes: ["contacts.read", "contacts.write"] });
  await server.start();
});

afterEach(async () => {
  await server.close();
});

function clientCredentialsConfig(
  overrides: Partial<OAuth2ClientCredentialsConfig> = {},
): OAuth2ClientCredentialsConfig {
  return {
    type: "oauth2",
    grant: "client_credentials",
    tokenUrl: server.tokenUrl,
    scopes: ["contacts.read"],
    ...overrides,
  };
}

function authorizationCodeConfig(
  overrides: Partial<OAuth2AuthorizationCodeConfig> = {},
): OAuth2AuthorizationCodeConfig {
  return {
    type: "oauth2",
    grant: "authorization_code",
    tokenUrl: server.tokenUrl,
    authorizationUrl: server.authorizationUrl,
    scopes: ["contacts.read", "contacts.write"],
    ...overrides,
  };
}

function client(clientSecret = server.clientSecret) {
  return { clientId: server.clientId, clientSecret };
}

/** What a person's browser does: open the authorization URL and land on the redirect. */
async function approve(authorizationUrl: string): Promise<URL> {
  const response = await fetch(authorizationUrl, { redirect: "manual" });
  expect(response.status).toBe(302);
  return new URL(response.headers.get("location") ?? "");
}

async function authorize(config = authorizationCodeConfig()): Promise<TokenSet & { refreshToken: string }> {
  const started = await startAuthorization(config, server.clientId, redirectUri);
  const tokens = await finishAuthorization(config, client(), redirectUri, await approve(started.url), started, options);
  if (!tokens.refreshToken) throw new Error("the authorization issued no refresh token");
  return { ...tokens, refreshToken: tokens.refreshToken };
}

function callApi(accessToken: string): Promise<Response> {
  return fetch(`${server.origin}/api/contacts`, { headers: { authorization: `Bearer ${accessToken}` } });
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

function expectNoSecretIn(error: Error, secrets: string[]): void {
  for (const secret of secrets) {
    expect(error.message).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
  }
}

describe("client credentials", () => {
  it("issues a token for the configured scopes that the API accepts, expiring expires_in after the request", async () => {
    server.tokenLifetimeSec = 1800;
    const tokens = await requestClientCredentialsToken(clientCredentialsConfig(), client(), options);

    expect(tokens).toEqual({
      accessToken: expect.stringMatching(/^at_/),
      refreshToken: undefined,
      expiresAt: now() + 1800 * 1000,
      scope: "contacts.read",
    });
    expect((await callApi(tokens.accessToken)).status).toBe(200);
    expect(server.tokenRequests.client_credentials).toBe(1);
  });

  it.each(["basic", "post"] as const)('authenticates the client with clientAuth "%s"', async (clientAuth) => {
    await requestClientCredentialsToken(clientCredentialsConfig({ clientAuth }), client(), options);
    expect(server.lastClientAuth).toBe(clientAuth);
  });

  it("authenticates with client_secret_basic when clientAuth is not set", async () => {
    await requestClientCredentialsToken(clientCredentialsConfig(), client(), options);
    expect(server.lastClientAuth).toBe("basic");
  });

  it.each(["basic", "post"] as const)(
    'a wrong client secret (clientAuth "%s") is refused as invalid_client, naming the fields to fix',
    async (clientAuth) => {
      const wrongSecret = "not-the-secret-9f3a";
      const error = await rejectionOf(
        requestClientCredentialsToken(clientCredentialsConfig({ clientAuth }), client(wrongSecret), options),
      );

      expect(error).toBeInstanceOf(OAuthRejectedError);
      expect(error).toMatchObject({ name: "OAuthRejectedError", oauthError: "invalid_client" });
      expect(error.message).toContain("clientSecret");
      expectNoSecretIn(error, [wrongSecret, server.clientSecret]);
    },
  );

  it("a scope the client may not have is refused as invalid_scope, naming the scopes", async () => {
    const error = await rejectionOf(
      requestClientCredentialsToken(clientCredentialsConfig({ scopes: ["admin"] }), client(), options),
    );
    expect(error).toMatchObject({ name: "OAuthRejectedError", oauthError: "invalid_scope" });
    expect(error.message).toContain("admin");
  });

  it("a 500 from the token endpoint is retryable, and the next attempt gets a token", async () => {
    server.failTokenRequests(1, 500);
    const error = await rejectionOf(requestClientCredentialsToken(clientCredentialsConfig(), client(), options));

    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain("HTTP 500");
    expect((error as RetryableError).retryAfterMs).toBeUndefined();
    await expect(requestClientCredentialsToken(clientCredentialsConfig(), client(), options)).resolves.toMatchObject({
      accessToken: expect.stringMatching(/^at_/),
    });
    expect(server.tokenRequests.client_credentials).toBe(2);
  });

  it.each([429, 503])("a %i with Retry-After is retryable after the delay the server asked for", async (status) => {
    server.failTokenRequests(1, status, 7);
    const error = await rejectionOf(requestClientCredentialsToken(clientCredentialsConfig(), client(), options));
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).retryAfterMs).toBe(7000);
  });

  it("a token endpoint that does not answer in time is retryable", async () => {
    server.delayTokenResponsesMs = 5_000;
    const error = await rejectionOf(
      requestClientCredentialsToken(clientCredentialsConfig(), client(), { now, timeoutMs: 100 }),
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain("no answer within 100 ms");
  });

  it("a token endpoint nobody listens on is retryable", async () => {
    const gone = new OAuthTestServer();
    await gone.start();
    const tokenUrl = gone.tokenUrl;
    await gone.close();

    const error = await rejectionOf(
      requestClientCredentialsToken(clientCredentialsConfig({ tokenUrl }), client(), options),
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("a 200 that is not a usable token response is retryable and says what was missing", async () => {
    const noAccessToken: typeof fetch = async () =>
      new Response(JSON.stringify({ token_type: "Bearer", expires_in: 3600 }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    const error = await rejectionOf(
      requestClientCredentialsToken(clientCredentialsConfig(), client(), { now, fetch: noAccessToken }),
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain("access_token");
  });
});

describe("refresh", () => {
  it("with rotation, a refresh returns a new refresh token and the old one is then refused as invalid_grant", async () => {
    const first = await authorize();
    const refreshed = await refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options);

    expect(refreshed.refreshToken).toMatch(/^rt_/);
    expect(refreshed.refreshToken).not.toBe(first.refreshToken);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    expect((await callApi(refreshed.accessToken)).status).toBe(200);

    const error = await rejectionOf(
      refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options),
    );
    expect(error).toBeInstanceOf(OAuthRejectedError);
    expect(error).toMatchObject({ oauthError: "invalid_grant" });
    expect(error.message).toContain("authorize the connection again");
    expectNoSecretIn(error, [first.refreshToken, server.clientSecret]);
  });

  it("without rotation, the result carries the same refresh token, which keeps working", async () => {
    server.rotateRefreshTokens = false;
    const first = await authorize();
    const once = await refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options);
    const twice = await refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options);

    expect(once.refreshToken).toBe(first.refreshToken);
    expect(twice.refreshToken).toBe(first.refreshToken);
    expect((await callApi(twice.accessToken)).status).toBe(200);
  });

  it("an access token the API no longer accepts is replaced by a refresh", async () => {
    const first = await authorize();
    server.expireAccessTokens();

    const refused = await callApi(first.accessToken);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');

    const refreshed = await refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options);
    expect((await callApi(refreshed.accessToken)).status).toBe(200);
  });

  it("a revoked refresh token is refused as invalid_grant", async () => {
    const first = await authorize();
    server.revokeRefreshTokens();
    const error = await rejectionOf(
      refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options),
    );
    expect(error).toMatchObject({ name: "OAuthRejectedError", oauthError: "invalid_grant" });
  });

  it("a refresh that fails with a 503 leaves the refresh token usable", async () => {
    const first = await authorize();
    server.failTokenRequests(1, 503);
    const error = await rejectionOf(
      refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options),
    );
    expect(error).toBeInstanceOf(RetryableError);
    await expect(
      refreshAccessToken(authorizationCodeConfig(), client(), first.refreshToken, options),
    ).resolves.toMatchObject({ accessToken: expect.stringMatching(/^at_/) });
  });
});

describe("authorization code with PKCE", () => {
  it("the authorization URL carries PKCE S256, a random state, the scopes and the extra parameters", async () => {
    const config = authorizationCodeConfig({ authorizationParams: { access_type: "offline", state: "fixed" } });
    const started = await startAuthorization(config, server.clientId, redirectUri);
    const url = new URL(started.url);
    const challenge = createHash("sha256").update(started.codeVerifier).digest("base64url");

    expect(url.origin + url.pathname).toBe(server.authorizationUrl);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      access_type: "offline",
      response_type: "code",
      client_id: server.clientId,
      redirect_uri: redirectUri,
      scope: "contacts.read contacts.write",
      state: started.state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    expect(started.state).not.toBe("fixed");
    const again = await startAuthorization(config, server.clientId, redirectUri);
    expect(again.state).not.toBe(started.state);
    expect(again.codeVerifier).not.toBe(started.codeVerifier);
  });

  it("a person approving, then the callback, yields tokens the API accepts; the code works only once", async () => {
    const config = authorizationCodeConfig();
    const started = await startAuthorization(config, server.clientId, redirectUri);
    const callback = await approve(started.url);
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get("state")).toBe(started.state);

    const tokens = await finishAuthorization(config, client(), redirectUri, callback, started, options);
    expect(tokens).toEqual({
      accessToken: expect.stringMatching(/^at_/),
      refreshToken: expect.stringMatching(/^rt_/),
      expiresAt: now() + 3600 * 1000,
      scope: "contacts.read contacts.write",
    });
    expect((await callApi(tokens.accessToken)).status).toBe(200);

    const replayed = await rejectionOf(finishAuthorization(config, client(), redirectUri, callback, started, options));
    expect(replayed).toMatchObject({ name: "OAuthRejectedError", oauthError: "invalid_grant" });
    expect(replayed.message).toContain("start the authorization again");
    expectNoSecretIn(replayed, [callback.searchParams.get("code") ?? "", started.codeVerifier, server.clientSecret]);
  });

  it('works with clientAuth "post"', async () => {
    const tokens = await authorize(authorizationCodeConfig({ clientAuth: "post" }));
    expect(server.lastClientAuth).toBe("post");
    expect((await callApi(tokens.accessToken)).status).toBe(200);
  });

  it("a callback from another authorization (state mismatch) is rejected before any token request", async () => {
    const config = authorizationCodeConfig();
    const mine = await startAuthorization(config, server.clientId, redirectUri);
    const other = await startAuthorization(config, server.clientId, redirectUri);
    const callback = await approve(other.url);

    const error = await rejectionOf(finishAuthorization(config, client(), redirectUri, callback, mine, options));
    expect(error).toBeInstanceOf(NonRetryableError);
    expect(error.message).toContain("state");
    expect(server.tokenRequests.authorization_code).toBe(0);
  });

  it("a person declining is surfaced as access_denied, with no token request", async () => {
    const config = authorizationCodeConfig();
    const started = await startAuthorization(config, server.clientId, redirectUri);
    server.denyNext();
    const callback = await approve(started.url);
    expect(callback.searchParams.get("error")).toBe("access_denied");

    const error = await rejectionOf(finishAuthorization(config, client(), redirectUri, callback, started, options));
    expect(error).toBeInstanceOf(OAuthRejectedError);
    expect(error).toMatchObject({ oauthError: "access_denied" });
    expect(error.message).toContain("declined");
    expect(server.tokenRequests.authorization_code).toBe(0);
  });

  it("a code exchanged with the wrong PKCE verifier is refused as invalid_grant", async () => {
    const config = authorizationCodeConfig();
    const started = await startAuthorization(config, server.clientId, redirectUri);
    const unrelated = await startAuthorization(config, server.clientId, redirectUri);
    const callback = await approve(started.url);

    const error = await rejectionOf(
      finishAuthorization(
        config,
        client(),
        redirectUri,
        callback,
        { state: started.state, codeVerifier: unrelated.codeVerifier },
        options,
      ),
    );
    expect(error).toMatchObject({ name: "OAuthRejectedError", oauthError: "invalid_grant" });
    expectNoSecretIn(error, [callback.searchParams.get("code") ?? "", started.codeVerifier, unrelated.codeVerifier]);
  });
});

describe("exchanges for the audit trail", () => {
  it("onExchange sees each token request and its answer, raw", async () => {
    const exchanges: OAuthExchange[] = [];
    const watched: OAuthOptions = { now, onExchange: (exchange) => exchanges.push(exchange) };
    server.failTokenRequests(1, 500);
    await rejectionOf(requestClientCredentialsToken(clientCredentialsConfig(), client(), watched));
    const tokens = await requestClientCredentialsToken(clientCredentialsConfig(), client(), watched);

    expect(exchanges).toHaveLength(2);
    expect(exchanges[0]).toMatchObject({ status: 500, responseBody: "injected failure 500", error: null });
    expect(exchanges[1]).toMatchObject({
      method: "POST",
      url: server.tokenUrl,
      status: 200,
      error: null,
      requestHeaders: { authorization: expect.stringMatching(/^Basic /) },
      responseHeaders: { "cache-control": "no-store" },
    });
    expect(new URLSearchParams(exchanges[1]?.requestBody ?? "").get("grant_type")).toBe("client_credentials");
    expect(JSON.parse(exchanges[1]?.responseBody ?? "{}")).toMatchObject({ access_token: tokens.accessToken });
  });

  it("onExchange records a request that got no answer", async () => {
    const exchanges: OAuthExchange[] = [];
    server.delayTokenResponsesMs = 5_000;
    await rejectionOf(
      requestClientCredentialsToken(clientCredentialsConfig(), client(), {
        now,
        timeoutMs: 100,
        onExchange: (exchange) => exchanges.push(exchange),
      }),
    );
    expect(exchanges).toEqual([
      expect.objectContaining({ status: null, responseHeaders: null, responseBody: null, error: "timed out" }),
    ]);
  });
});

describe("error messages never carry a secret", () => {
  /** A token endpoint that quotes the whole request back in its error description. */
  const echoing =
    (status: number, error: string): typeof fetch =>
    async (_url, init) =>
      new Response(JSON.stringify({ error, error_description: `could not use ${String(init?.body)}` }), {
        status,
        headers: { "content-type": "application/json" },
      });

  it("not the client secret or refresh token a server echoes back", async () => {
    const refreshToken = "rt_echoed_refresh_token_0123";
    const config = authorizationCodeConfig({ clientAuth: "post" });
    const error = await rejectionOf(
      refreshAccessToken(config, client(), refreshToken, { now, fetch: echoing(400, "invalid_grant") }),
    );
    expect(error).toMatchObject({ name: "OAuthRejectedError", oauthError: "invalid_grant" });
    expect(error.message).toContain("[redacted]");
    expectNoSecretIn(error, [refreshToken, server.clientSecret]);
  });

  it("not the code or verifier a server echoes back, on refusal or outage", async () => {
    const config = authorizationCodeConfig({ clientAuth: "post" });
    for (const [status, code] of [
      [400, "invalid_grant"],
      [503, "temporarily_unavailable"],
    ] as const) {
      const started = await startAuthorization(config, server.clientId, redirectUri);
      const callback = await approve(started.url);
      const error = await rejectionOf(
        finishAuthorization(config, client(), redirectUri, callback, started, { now, fetch: echoing(status, code) }),
      );
      expect(error.message).toContain(code);
      expectNoSecretIn(error, [callback.searchParams.get("code") ?? "", started.codeVerifier, server.clientSecret]);
    }
  });
});

describe("the test server's protected API", () => {
  it("answers a valid bearer token with the request, refuses others per RFC 6750, and records every request", async () => {
    const tokens = await requestClientCredentialsToken(clientCredentialsConfig(), client(), options);
    const post = (headers: Record<string, string>) =>
      fetch(`${server.origin}/api/contacts?page=2`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ name: "Ada" }),
      });

    const anonymous = await post({});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="tenon-test"');
    expect((await post({ authorization: "Bearer at_forged" })).headers.get("www-authenticate")).toContain(
      'error="invalid_token"',
    );
    const answered = await post({ authorization: `Bearer ${tokens.accessToken}` });
    expect(answered.status).toBe(200);
    expect(await answered.json()).toEqual({
      ok: true,
      path: "/api/contacts?page=2",
      method: "POST",
      body: { name: "Ada" },
    });

    expect(server.apiRequests).toHaveLength(3);
    expect(server.apiRequests[2]).toMatchObject({
      at: expect.any(Number),
      method: "POST",
      path: "/api/contacts?page=2",
      headers: { authorization: `Bearer ${tokens.accessToken}` },
      body: '{"name":"Ada"}',
    });
  });
});
