import { createContext, useContext } from "react";
import { ApiError, apiDelete, apiGet, apiPost } from "./client.ts";
import { sessionPath } from "./polling.ts";
import type { Role, Session } from "./types.ts";

/** The signed-in session, or null: the server answers 401 when the cookie is missing, expired or revoked. */
export async function fetchSession(): Promise<Session | null> {
  try {
    return await apiGet<Session>(sessionPath);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** Trades an API token for a session cookie; the token itself is not kept by the page. */
export function signIn(token: string): Promise<Session> {
  return apiPost<Session>("/auth/session", { token });
}

export function signOut(): Promise<void> {
  return apiDelete<void>("/auth/session");
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession is used outside the signed-in shell");
  return session;
}

/** Replays, acknowledgements, re-authorisation: the operator role and above (the API refuses the rest anyway). */
export function canOperate(role: Role): boolean {
  return role === "operator" || role === "admin";
}
