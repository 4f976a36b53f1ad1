import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import type { DashboardSessionRecord } from "../../src/storage/session-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const hash = (secret: string) => createHash("sha256").update(secret).digest("hex");

function session(secret: string, createdAt: number, expiresAt: number): DashboardSessionRecord {
  return {
    idHash: hash(secret),
    name: "alice",
    role: "operator",
    source: "stored",
    tokenHash: hash("tenon_alice"),
    createdAt,
    lastSeenAt: createdAt,
    expiresAt,
  };
}

describe.each(backends)("the session store on $name", (backend) => {
  const t = useTestStorage(backend);
  beforeEach(() => t.storage.migrate());

  it("finds a session by its digest until it expires, records its use, and forgets it once signed out", async () => {
    const store = t.storage.sessions;
    await store.createSession(session("one", t0, t0 + 1000));
    expect(await store.findSession(hash("one"), t0 + 999)).toEqual(session("one", t0, t0 + 1000));
    expect(await store.findSession(hash("one"), t0 + 1000)).toBeNull();
    expect(await store.findSession(hash("other"), t0)).toBeNull();

    await store.touchSession(hash("one"), t0 + 500, t0 + 2000);
    expect(await store.findSession(hash("one"), t0 + 1500)).toMatchObject({
      lastSeenAt: t0 + 500,
      expiresAt: t0 + 2000,
    });

    expect(await store.deleteSession(hash("one"))).toBe(true);
    expect(await store.deleteSession(hash("one"))).toBe(false);
    expect(await store.findSession(hash("one"), t0)).toBeNull();
  });

  it("deletes the sessions expired by the time a new one is made, and no others", async () => {
    const store = t.storage.sessions;
    await store.createSession(session("expired", t0, t0 + 1000));
    await store.createSession(session("alive", t0, t0 + 5000));
    await store.createSession(session("new", t0 + 1000, t0 + 9000));
    // Asked as of time 0, a row that is still stored is found whatever its expiry.
    expect(await store.findSession(hash("expired"), 0)).toBeNull();
    expect(await store.findSession(hash("alive"), 0)).not.toBeNull();
    expect(await store.findSession(hash("new"), 0)).not.toBeNull();
  });

  it("hands a sign-in link out once, only before it expires, and deletes expired links when a new one is made", async () => {
    const store = t.storage.sessions;
    const link = (code: string, createdAt: number) => ({
      codeHash: hash(code),
      name: "dev-link",
      role: "admin" as const,
      createdAt,
      expiresAt: createdAt + 600_000,
    });
    await store.createSignInLink(link("a", t0));
    expect(await store.consumeSignInLink(hash("a"), t0 + 599_999)).toEqual(link("a", t0));
    expect(await store.consumeSignInLink(hash("a"), t0 + 599_999)).toBeNull();

    await store.createSignInLink(link("late", t0));
    expect(await store.consumeSignInLink(hash("late"), t0 + 600_000)).toBeNull();
    // Refused when late, and gone: asking again as of time 0 finds nothing either.
    expect(await store.consumeSignInLink(hash("late"), 0)).toBeNull();

    await store.createSignInLink(link("stale", t0));
    await store.createSignInLink(link("kept", t0 + 1));
    await store.createSignInLink(link("fresh", t0 + 600_000));
    expect(await store.consumeSignInLink(hash("stale"), 0)).toBeNull();
    expect(await store.consumeSignInLink(hash("kept"), 0)).toEqual(link("kept", t0 + 1));
    expect(await store.consumeSignInLink(hash("fresh"), 0)).toEqual(link("fresh", t0 + 600_000));
  });
});
