import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { finishAuthorization, startAuthorization } from "../../src/connections/auth/oauth2.ts";
import type { OAuth2AuthorizationCodeConfig } from "../../src/connections/connection-config.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { OAuthProvider, type OAuthProviderOptions } from "../../src/sandbox/oauth-provider.ts";
import type { SandboxSystem } from "../../src/sandbox/sandbox-system.ts";

const redirectUri = "http://127.0.0.1:3000/oauth/callback";
let clock = Date.parse("2025-06-01T12:00:00Z");
let sandbox: Sandbox | undefined;
let provider: OAuthProvider;

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

/** A system that is only an authorization server and one protected route, `GET /me`. */
async function start(options: Partial<OAuthProviderOptions> = {}): Promise<string> {
  const system = (): SandboxSystem => {
    provider = new OAuthProvider({
      now: () => clock,
      clientId: "client-1",
      clientSecret: "secret-1",
      clientAuth: "basic",
      accessTokenTtlSeconds: 3600,
      rotateRefreshTokens: true,
      format: {
        clientId: () => "unused",
        clientSecret: () => "unused",
        accessToken: () => `at-${Math.random().toString(36).slice(2)}`,
        refreshToken: () => `rt-${Math.random().toString(36).slice(2)}`,
      },
      ...options,
    });
    return {
      name: "auth",
      registerRoutes(app) {
        provider.registerRoutes(app, { authorize: "/authorize", token: "/token" });
        app.get("/me", async (request, reply) => {
          const result = provider.authenticate(request.headers.authorization);
          return result.ok ? result : reply.code(401).send(result);
        });
      },
      registerControlRoutes: (app) => provider.registerControlRoutes(app),
      state: () => provider.counters(),
      counts: () => ({}),
      credentials: () => ({ clientId: provider.clientId, clientSecret: provider.clientSecret }),
      revokeCredentials: () => provider.revokeAll(),
      restoreCredentials() {},
    };
  };
  sandbox = createSandbox({ systems: { auth: system }, now: () => clock });
  await sandbox.listen();
  return sandbox.baseUrl("auth");
}

const basic = (id = "client-1", secret = "secret-1") => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

async function token(
  base: string,
  form: Record<string, string>,
  headers: Record<string, string> = { authorization: basic() },
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function authorize(base: string, parameters: Record<string, string>): Promise<Response> {
  const url = new URL(`${base}/authorize`);
  for (const [name, value] of Object.entries(parameters)) url.searchParams.set(name, value);
  return fetch(url, { redirect: "manual" });
}

async function callApi(base: string, accessToken: string): Promise<number> {
  return (await fetch(`${base}/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

const challengeOf = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

describe("the sandbox OAuth provider", () => {
  it("completes Tenon's own authorization-code flow (PKCE S256, state) and protects the API with the token", async () => {
    const base = await start();
    const config: OAuth2AuthorizationCodeConfig = {
      type: "oauth2",
      grant: "authorization_code",
      tokenUrl: `${base}/token`,
      authorizationUrl: `${base}/authorize`,
      clientAuth: "basic",
      scopes: ["contacts"],
    };
    const started = await startAuthorization(config, "client-1", redirectUri);
    const redirect = await fetch(started.url, { redirect: "manual" });
    expect(redirect.status).toBe(302);
    const callback = new URL(redirect.headers.get("location") ?? "");
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get("state")).toBe(started.state);

    const tokens = await finishAuthorization(
      config,
      { clientId: "client-1", clientSecret: "secret-1" },
      redirectUri,
      callback,
      started,
      { now: () => clock },
    );
    expect(tokens).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(tokens.expiresAt).toBe(clock + 3600 * 1000);
    expect(await callApi(base, tokens.accessToken)).toBe(200);
    expect(provider.counters()).toMatchObject({ authorizations: 1, accessTokensIssued: 1 });
  });

  it("checks the PKCE verifier and the redirect URI at the token endpoint, and spends a code once", async () => {
    const base = await start();
    const verifier = "a-verifier-of-at-least-forty-three-characters-long-0123";
    const newCode = async () => {
      const response = await authorize(base, {
        response_type: "code",
        client_id: "client-1",
        redirect_uri: redirectUri,
        code_challenge: challengeOf(verifier),
        code_challenge_method: "S256",
      });
      return new URL(response.headers.get("location") ?? "").searchParams.get("code") ?? "";
    };
    const exchange = (code: string, extra: Record<string, string> = {}) =>
      token(base, {
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        ...extra,
      });

    const wrongVerifier = await exchange(await newCode(), { code_verifier: "another-verifier" });
    expect(wrongVerifier).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    const wrongRedirect = await exchange(await newCode(), { redirect_uri: "http://127.0.0.1:3000/elsewhere" });
    expect(wrongRedirect).toMatchObject({ status: 400, body: { error: "invalid_grant" } });

    const code = await newCode();
    const first = await exchange(code);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: "bearer", expires_in: 3600, access_token: expect.any(String) });
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(await exchange(code)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(provider.counters().rejectedTokenRequests).toBe(3);
  });

  it("never redirects for an unknown client or an unregistered redirect URI; other errors go back to the client", async () => {
    const base = await start({ redirectUris: [redirectUri] });
    expect(
      (await authorize(base, { response_type: "code", client_id: "nobody", redirect_uri: redirectUri })).status,
    ).toBe(400);
    const unregistered = await authorize(base, {
      response_type: "code",
      client_id: "client-1",
      redirect_uri: "https://attacker.example/cb",
    });
    expect(unregistered.status).toBe(400);

    const plain = await authorize(base, {
      response_type: "code",
      client_id: "client-1",
      redirect_uri: redirectUri,
      state: "s1",
      code_challenge: "abc",
      code_challenge_method: "plain",
    });
    const refused = new URL(plain.headers.get("location") ?? "");
    expect(refused.searchParams.get("error")).toBe("invalid_request");
    expect(refused.searchParams.get("state")).toBe("s1");
  });

  it("shows a browser a consent page; Approve sends a code back, Deny sends access_denied", async () => {
    const base = await start({ consentTitle: "Ledger (sandbox)" });
    const parameters = new URLSearchParams({
      response_type: "code",
      client_id: "client-1",
      redirect_uri: redirectUri,
      state: "s2",
      scope: "accounting",
    });
    const page = await fetch(`${base}/authorize?${parameters}`, {
      headers: { accept: "text/html,application/xhtml+xml" },
      redirect: "manual",
    });
    expect([page.status, page.headers.get("content-type")]).toEqual([200, "text/html; charset=utf-8"]);
    const html = await page.text();
    expect(html).toContain("Authorise access to Ledger (sandbox)");
    expect(html).toContain("<code>accounting</code>");
    expect(html).toContain('name="decision" value="approve"');
    const answer = (decision: string) =>
      fetch(`${base}/authorize?${parameters}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ decision }),
        redirect: "manual",
      });

    const approved = new URL((await answer("approve")).headers.get("location") ?? "");
    expect([approved.origin + approved.pathname, approved.searchParams.get("state")]).toEqual([redirectUri, "s2"]);
    expect(approved.searchParams.get("code")).toMatch(/.{20,}/);
    const denied = new URL((await answer("deny")).headers.get("location") ?? "");
    expect([denied.searchParams.get("error"), denied.searchParams.get("code")]).toEqual(["access_denied", null]);
    // A program asking for no HTML is approved at once, as before.
    const scripted = await authorize(base, Object.fromEntries(parameters));
    expect(new URL(scripted.headers.get("location") ?? "").searchParams.get("code")).toMatch(/.{20,}/);
  });

  it("authenticates the client only where the provider expects it (HTTP Basic here), refusing it in the body", async () => {
    const base = await start();
    const refreshToken = provider.issueGrant();
    const inBody = await token(
      base,
      { grant_type: "refresh_token", refresh_token: refreshToken, client_id: "client-1", client_secret: "secret-1" },
      {},
    );
    expect(inBody).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    expect(inBody.headers.get("www-authenticate")).toMatch(/^Basic/);
    const wrongSecret = await token(
      base,
      { grant_type: "refresh_token", refresh_token: refreshToken },
      { authorization: basic("client-1", "nope") },
    );
    expect(wrongSecret).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    expect((await token(base, { grant_type: "refresh_token", refresh_token: refreshToken })).status).toBe(200);
  });

  it("takes the client credentials from the form body when configured like HubSpot", async () => {
    const base = await start({ clientAuth: "post" });
    const refreshToken = provider.issueGrant();
    const form = { grant_type: "refresh_token", refresh_token: refreshToken };
    expect((await token(base, form)).status).toBe(401);
    const answer = await token(base, { ...form, client_id: "client-1", client_secret: "secret-1" }, {});
    expect(answer.status).toBe(200);
  });

  it("rotates refresh tokens, keeping the old one valid until its successor is first used", async () => {
    const base = await start();
    const first = provider.issueGrant();
    const refresh = (refreshToken: string) => token(base, { grant_type: "refresh_token", refresh_token: refreshToken });

    const second = (await refresh(first)).body.refresh_token as string;
    expect(second).not.toBe(first);
    // The answer carrying `second` was lost: the client retries with `first` and gets `second` again.
    expect((await refresh(first)).body.refresh_token).toBe(second);
    const third = (await refresh(second)).body.refresh_token as string;
    expect(third).not.toBe(second);
    expect(await refresh(first)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(provider.counters()).toMatchObject({ refreshes: 3, rotations: 2 });
  });

  it("returns the same refresh token when rotation is off (HubSpot)", async () => {
    const base = await start({ rotateRefreshTokens: false });
    const grant = provider.issueGrant();
    const answer = await token(base, { grant_type: "refresh_token", refresh_token: grant });
    expect(answer.body.refresh_token).toBe(grant);
  });

  it("reports an access token past its lifetime as expired", async () => {
    const base = await start({ accessTokenTtlSeconds: 60 });
    const answer = await token(base, { grant_type: "refresh_token", refresh_token: provider.issueGrant() });
    const accessToken = answer.body.access_token as string;
    expect(provider.authenticate(`Bearer ${accessToken}`)).toEqual({ ok: true, clientId: "client-1" });
    clock += 61_000;
    expect(provider.authenticate(`Bearer ${accessToken}`)).toMatchObject({ ok: false, reason: "expired" });
    expect(await callApi(base, accessToken)).toBe(401);
  });

  it("revokes every token at once; a person authorising again (the control route) restores access", async () => {
    const base = await start();
    const grant = provider.issueGrant();
    const accessToken = (await token(base, { grant_type: "refresh_token", refresh_token: grant })).body
      .access_token as string;
    sandbox?.setFaults("auth", { revokeCredentials: true });

    expect(await callApi(base, accessToken)).toBe(401);
    expect(await token(base, { grant_type: "refresh_token", refresh_token: grant })).toMatchObject({
      status: 400,
      body: { error: "invalid_grant" },
    });

    const control = await fetch(`${sandbox?.url}/_sandbox/auth/authorizations`, { method: "POST" });
    const { refresh_token: fresh } = (await control.json()) as { refresh_token: string };
    const renewed = await token(base, { grant_type: "refresh_token", refresh_token: fresh });
    expect(await callApi(base, renewed.body.access_token as string)).toBe(200);
    expect(provider.counters()).toMatchObject({ revocations: 1, authorizations: 2 });
  });
});
