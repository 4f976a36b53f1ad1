import { createSignInLink, signInLinkUrl } from "../server/dashboard-sessions.ts";
import type { SessionStore } from "../storage/session-store.ts";

/**
 * The one-time link `tenon dev` and the demo print: it opens the dashboard signed in as an admin named
 * "dev-link", so a newcomer sees data at once without making a token. It works once, within 10 minutes;
 * `tenon dashboard-link` makes another.
 */
export async function devSignInLink(store: SessionStore, baseUrl: string): Promise<string> {
  const code = await createSignInLink(store, { name: "dev-link", role: "admin", now: Date.now() });
  return signInLinkUrl(baseUrl, code);
}
