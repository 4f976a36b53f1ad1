import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { setCsrfToken, whenSignedOut } from "../api/client.ts";
import { sessionQuery } from "../api/queries.ts";
import { SessionContext } from "../api/session.ts";
import { ErrorNotice } from "../components/Notices.tsx";
import { Shell } from "./Shell.tsx";
import { SignIn } from "./SignIn.tsx";

/** Signed in: the dashboard; not: the sign-in page. The session lives in an httpOnly cookie the page cannot read. */
export function App() {
  const queryClient = useQueryClient();
  const session = useQuery({ ...sessionQuery, staleTime: Number.POSITIVE_INFINITY });

  useEffect(() => {
    whenSignedOut(() => {
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== "session" });
      queryClient.setQueryData(["session"], null);
    });
  }, [queryClient]);
  useEffect(() => setCsrfToken(session.data?.csrfToken ?? null), [session.data]);

  if (session.isPending) return <div className="splash" aria-busy="true" />;
  if (session.isError) {
    return (
      <main className="signin">
        <ErrorNotice error={session.error} title="Tenon did not answer" />
        <button type="button" className="button" onClick={() => session.refetch()}>
          Try again
        </button>
      </main>
    );
  }
  if (!session.data) return <SignIn onSignedIn={(signedIn) => queryClient.setQueryData(["session"], signedIn)} />;
  return (
    <SessionContext.Provider value={session.data}>
      <Shell />
    </SessionContext.Provider>
  );
}
