import { Link } from "wouter";
import type { Run } from "../api/types.ts";
import { formatDuration, toEpochMs } from "../format/time.ts";
import { LoadingRows } from "./Notices.tsx";
import { ScrollBox } from "./ScrollBox.tsx";
import { RunStatusBadge } from "./StatusBadge.tsx";
import { Time } from "./Time.tsx";

/** Runs as rows; each opens its timeline. The last error is cut to one line here and shown whole there. */
export function RunTable({ runs, loading, rows = 10 }: { runs: Run[] | undefined; loading: boolean; rows?: number }) {
  return (
    <ScrollBox>
      <table className="table runs-table">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col" className="wide-only">
              Integration
            </th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col" className="secondary">
              Took
            </th>
            <th scope="col" className="secondary">
              Last error
            </th>
          </tr>
        </thead>
        <tbody>
          {loading && !runs && <LoadingRows rows={Math.min(rows, 8)} columns={6} />}
          {runs?.map((run) => (
            <tr key={run.id} data-status={run.status}>
              <td>
                {/* The full id is the link's tooltip; under the "Run" header the last characters tell runs apart. */}
                <Link href={`/runs/${run.id}`} className="mono" title={run.id}>
                  {shortId(run.id)}
                </Link>
                <span className="narrow-only muted">{run.integrationId}</span>
              </td>
              <td className="wide-only">{run.integrationId}</td>
              <td>
                <RunStatusBadge status={run.status} />
                {run.waitingOn && <span className="muted"> on {run.waitingOn}</span>}
              </td>
              <td>
                <Time at={run.createdAt} />
              </td>
              <td className="secondary num">{took(run)}</td>
              <td className="secondary last-error" title={run.lastError ?? undefined}>
                {run.lastError ?? ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </ScrollBox>
  );
}

/** Run ids are long UUIDs; their last characters tell them apart in a list (the full id is in the link's label). */
export function shortId(id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

function took(run: Run): string {
  const started = toEpochMs(run.startedAt);
  const finished = toEpochMs(run.finishedAt);
  if (started === null || finished === null) return "";
  return formatDuration(finished - started);
}
