import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type BulkActionKind, describeFilter, summarise, useRecentBulkActions } from "../api/bulk-actions.ts";
import { apiPost } from "../api/client.ts";
import { stateTone } from "./BulkProgress.tsx";
import { ErrorNotice } from "./Notices.tsx";
import { ScrollBox } from "./ScrollBox.tsx";
import { Time } from "./Time.tsx";

/** The latest bulk replays of a kind: who started them, what they selected, how far they got; resume one that was interrupted. */
export function RecentBulkActions({ kind, noun }: { kind: BulkActionKind; noun: string }) {
  const queryClient = useQueryClient();
  const list = useRecentBulkActions(kind);
  const resume = useMutation({
    mutationFn: (id: string) => apiPost(`/api/bulk-actions/${encodeURIComponent(id)}/resume`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["bulk-actions"] }),
  });
  if (list.error) return <ErrorNotice error={list.error} title="Bulk replays could not be listed" />;
  // At the page's foot, and only once there is one: nothing above it moves when it appears.
  if (!list.data || list.data.bulkActions.length === 0) return null;
  return (
    <section className="recent-bulk" aria-labelledby={`recent-${kind}`}>
      <h2 id={`recent-${kind}`}>Recent bulk replays</h2>
      {resume.isError && <ErrorNotice error={resume.error} title="Could not resume" />}
      <ScrollBox>
        <table className="table bulk-table">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">By</th>
              <th scope="col">Selected</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {list.data.bulkActions.map((job) => (
              <tr key={job.id}>
                <td>
                  <Time at={job.startedAt} />
                </td>
                <td>{job.actor}</td>
                <td>
                  {job.total} {noun}(s)
                  <span className="muted block">{describeFilter(job)}</span>
                </td>
                <td>
                  <span className={`badge badge-${stateTone[job.state]}`}>{job.state}</span> {job.done} of {job.total}
                  <span className="muted block">{summarise(job)}</span>
                  {job.state === "interrupted" && (
                    <button
                      type="button"
                      className="button button-small"
                      onClick={() => resume.mutate(job.id)}
                      disabled={resume.isPending}
                    >
                      Resume
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollBox>
    </section>
  );
}
