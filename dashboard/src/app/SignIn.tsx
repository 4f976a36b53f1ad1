import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useEffect, useId, useState } from "react";
import { ApiError } from "../api/client.ts";
import { signIn } from "../api/session.ts";
import type { Session } from "../api/types.ts";

/**
 * Sign-in with an API token (made by `tenon tokens create`, or one of TENON_API_TOKENS). The server answers
 * with an httpOnly cookie; the token is not kept by the page.
 */
export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState("");
  const fieldId = useId();
  const hintId = useId();
  const mutation = useMutation({ mutationFn: signIn, onSuccess: onSignedIn });
  useEffect(() => {
    document.title = "Sign in · Tenon";
  }, []);

  function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = token.trim();
    if (trimmed) mutation.mutate(trimmed);
  }

  return (
    <main className="signin">
      <form className="signin-card" onSubmit={submit} noValidate>
        <h1>
          <span className="brand-mark" aria-hidden="true" /> Tenon
        </h1>
        <p className="muted">Sign in with an API token to see what flows, find what failed and replay it.</p>
        <label htmlFor={fieldId}>API token</label>
        <input
          id={fieldId}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(event) => setToken(event.target.value)}
          aria-describedby={hintId}
          aria-invalid={mutation.isError}
          required
        />
        <p id={hintId} className="hint">
          Create one with <code>tenon tokens create --role operator --name &lt;you&gt;</code>. Viewers can look;
          operators can also replay. <code>tenon dev</code> and the demo print a link that signs you in at once.
        </p>
        {mutation.isError && (
          <p className="notice notice-bad" role="alert">
            {describeSignInError(mutation.error)}
          </p>
        )}
        <button type="submit" className="button button-primary" disabled={mutation.isPending || !token.trim()}>
          {mutation.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

function describeSignInError(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) {
    return `${error.message}. Check the token (it is shown once, when created), or create a new one.`;
  }
  if (error instanceof ApiError && error.status === 429) return `${error.message}. Wait a moment and try again.`;
  return error instanceof Error ? error.message : String(error);
}
