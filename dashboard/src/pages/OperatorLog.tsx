import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { apiGet } from "../api/client.ts";
import { pollMs, usePageTitle } from "../api/live.ts";
import { canOperate, useSession } from "../api/session.ts";
import type { OperatorLogEntry } from "../api/types.ts";
import { EmptyState, ErrorNotice, LoadingRows } from "../components/Notices.tsx";
import { Pager } from "../components/Pager.tsx";
import { ScrollBox } from "../components/ScrollBox.tsx";
import { Time } from "../components/Time.tsx";

/** Who did what, through the API (this dashboard included) and the CLI, newest first. Operators only. */
export function OperatorLog() {
  usePageTitle("Operator log");
  const session = useSession();
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const allowed = canOperate(session.role);
  const log = useQuery({
    queryKey: ["operator-log", cursor],
    queryFn: () =>
      apiGet<{ entries: OperatorLogEntry[]; nextCursor: string | null }>("/api/operator-log", { limit: 50, cursor }),
    enabled: allowed,
    refetchInterval: cursor ? false : pollMs,
    placeholderData: keepPreviousData,
  });

  if (!allowed) {
    return (
      <EmptyState title="The operator log is for operators">
        <p>
          It names people and where they called from; a viewer token cannot read it. Ask an admin for an operator token.
        </p>
      </EmptyState>
    );
  }
  return (
    <>
      <div className="page-head">
        <h1>Operator log</h1>
      </div>
      {log.error && <ErrorNotice error={log.error} title="The log could not be read" />}
      {log.data && log.data.entries.length === 0 && !cursor ? (
        <EmptyState title="Nobody has done anything yet">
          <p>Replays, acknowledgements, credential changes and token changes are written here with who made them.</p>
        </EmptyState>
      ) : (
        <>
          <ScrollBox>
            <table className="table log-table">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col" className="secondary">
                    Outcome
                  </th>
                </tr>
              </thead>
              <tbody>
                {log.isPending && <LoadingRows columns={4} />}
                {log.data?.entries.map((entry) => (
                  <tr key={`${entry.at}-${entry.actor}-${entry.action}-${entry.target}`}>
                    <td>
                      <Time at={entry.at} />
                    </td>
                    <td>
                      {entry.actor}
                      <span className="muted block">
                        {entry.via === "cli" ? "CLI" : `${entry.role ?? ""} via API`}
                        {entry.ip && ` · ${entry.ip}`}
                      </span>
                    </td>
                    <td>
                      <code>{entry.action}</code>
                      {entry.target && <span className="muted block mono">{entry.target}</span>}
                    </td>
                    <td className="secondary">
                      {entry.status !== null && (
                        <span className={`badge badge-${entry.status < 400 ? "good" : "bad"}`}>{entry.status}</span>
                      )}{" "}
                      {entry.detail}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </ScrollBox>
          <Pager
            page={cursors.length + 1}
            hasNewer={cursors.length > 0}
            hasOlder={Boolean(log.data?.nextCursor)}
            onNewer={() => setCursors(cursors.slice(0, -1))}
            onOlder={() => log.data?.nextCursor && setCursors([...cursors, log.data.nextCursor])}
          />
        </>
      )}
    </>
  );
}
