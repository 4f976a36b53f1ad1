import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useId, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { ApiError, apiGet } from "../api/client.ts";
import { pollMs, usePageTitle } from "../api/live.ts";
import { healthQuery } from "../api/queries.ts";
import { type RunPage, type RunStatus, runStatuses, type SearchResult } from "../api/types.ts";
import { ExchangeList } from "../components/ExchangeList.tsx";
import { EmptyState, ErrorNotice } from "../components/Notices.tsx";
import { Pager } from "../components/Pager.tsx";
import { RunTable } from "../components/RunTable.tsx";

const pageSize = 50;

const ranges: { value: string; label: string }[] = [
  { value: "", label: "Any time" },
  { value: "15m", label: "Last 15 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
  { value: "custom", label: "Between…" },
];

interface RunFilters {
  status: string;
  integration: string;
  since: string;
  from: string;
  to: string;
  q: string;
}

/** The filters live in the address, so a filtered list can be bookmarked, shared and gone back to. */
function readFilters(search: string): RunFilters {
  const params = new URLSearchParams(search);
  const get = (name: string) => params.get(name) ?? "";
  return {
    status: get("status"),
    integration: get("integration"),
    since: get("since"),
    from: get("from"),
    to: get("to"),
    q: get("q"),
  };
}

function writeFilters(filters: RunFilters): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
  if (filters.since !== "custom") {
    params.delete("from");
    params.delete("to");
  }
  const text = params.toString();
  return text ? `/runs?${text}` : "/runs";
}

/** `datetime-local` values are in the viewer's zone; the API wants an ISO time with its zone. */
function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** Runs newest first: filter by status, integration, time and business entity; page with the API's cursor. */
export function Runs() {
  usePageTitle("Runs");
  const search = useSearch();
  const [, navigate] = useLocation();
  const filters = readFilters(search);
  const [entity, setEntity] = useState(filters.q);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const ids = {
    status: useId(),
    integration: useId(),
    since: useId(),
    from: useId(),
    to: useId(),
    q: useId(),
    qHint: useId(),
  };

  // A new filter starts again at the newest page.
  useEffect(() => {
    setCursors([]);
    setEntity(readFilters(search).q);
  }, [search]);

  const health = useQuery({ ...healthQuery, staleTime: 60_000 });
  const query = {
    status: filters.status,
    integration: filters.integration,
    since: filters.since === "custom" ? localToIso(filters.from) : filters.since,
    until: filters.since === "custom" ? localToIso(filters.to) : undefined,
    entity: filters.q,
    limit: pageSize,
    cursor,
  };
  const runs = useQuery({
    queryKey: ["runs", query],
    queryFn: () => apiGet<RunPage>("/api/runs", query),
    // Only the newest page changes as runs arrive; older pages are polled only by going back to them.
    refetchInterval: cursor ? false : pollMs,
    placeholderData: keepPreviousData,
  });
  const found = useQuery({
    queryKey: ["search", filters.q],
    queryFn: () => apiGet<SearchResult>("/api/search", { q: filters.q, limit: 20 }),
    enabled: filters.q !== "",
    refetchInterval: pollMs,
  });

  const update = (change: Partial<RunFilters>) => navigate(writeFilters({ ...filters, ...change }));
  function submitEntity(event: FormEvent) {
    event.preventDefault();
    update({ q: entity.trim() });
  }
  const integrations = health.data?.integrations.map((integration) => integration.id) ?? [];
  const entityError = runs.error instanceof ApiError && runs.error.code === "invalid_entity" ? runs.error : null;
  const filtered = Boolean(filters.status || filters.integration || filters.since || filters.q);

  return (
    <>
      <div className="page-head">
        <h1>Runs</h1>
        <p className="page-head-meta muted" aria-live="polite">
          {runs.isFetching && !runs.isPending ? "updating…" : cursor ? "older runs: not live" : "live, every 5 s"}
        </p>
      </div>
      <div className="filters">
        <search>
          <form className="search-form" onSubmit={submitEntity}>
            <label htmlFor={ids.q}>Find by entity</label>
            <div className="search-row">
              <input
                id={ids.q}
                type="search"
                placeholder="order:1001 or email:ada@example.com"
                value={entity}
                onChange={(event) => setEntity(event.target.value)}
                aria-describedby={ids.qHint}
                aria-invalid={entityError !== null}
                spellCheck={false}
              />
              <button type="submit" className="button">
                Search
              </button>
            </div>
            <p id={ids.qHint} className={entityError ? "hint error-text" : "hint"}>
              {entityError
                ? entityError.message
                : "kind:value terms, all must match; the kinds are those the integrations tag."}
            </p>
          </form>
        </search>
        <div className="filter-row">
          <div className="field">
            <label htmlFor={ids.status}>Status</label>
            <select id={ids.status} value={filters.status} onChange={(event) => update({ status: event.target.value })}>
              <option value="">Any status</option>
              {runStatuses.map((status: RunStatus) => (
                <option key={status} value={status}>
                  {status}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.integration}>Integration</label>
            <select
              id={ids.integration}
              value={filters.integration}
              onChange={(event) => update({ integration: event.target.value })}
            >
              <option value="">Any integration</option>
              {[...new Set([...integrations, ...(filters.integration ? [filters.integration] : [])])].map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.since}>Created</label>
            <select id={ids.since} value={filters.since} onChange={(event) => update({ since: event.target.value })}>
              {ranges.map((range) => (
                <option key={range.value} value={range.value}>
                  {range.label}
                </option>
              ))}
            </select>
          </div>
          {filters.since === "custom" && (
            <>
              <div className="field">
                <label htmlFor={ids.from}>From (your time)</label>
                <input
                  id={ids.from}
                  type="datetime-local"
                  step={1}
                  value={filters.from}
                  onChange={(event) => update({ from: event.target.value })}
                />
              </div>
              <div className="field">
                <label htmlFor={ids.to}>Until (your time)</label>
                <input
                  id={ids.to}
                  type="datetime-local"
                  step={1}
                  value={filters.to}
                  onChange={(event) => update({ to: event.target.value })}
                />
              </div>
            </>
          )}
          {filtered && (
            <Link href="/runs" className="button button-quiet clear-filters">
              Clear filters
            </Link>
          )}
        </div>
      </div>

      {runs.error && !entityError && <ErrorNotice error={runs.error} title="Runs could not be listed" />}
      {runs.data && runs.data.runs.length === 0 && !cursor ? (
        <EmptyState title={filtered ? "No run matches these filters" : "No run yet"}>
          {filtered ? (
            <p>Widen the time range, pick another status, or clear the filters.</p>
          ) : (
            <p>
              Runs start when an event arrives: a webhook at <code>/hooks/&lt;source&gt;</code>, a poll, a schedule, or{" "}
              <code>POST /api/events</code>.
            </p>
          )}
        </EmptyState>
      ) : (
        <>
          <RunTable runs={runs.data?.runs} loading={runs.isPending} rows={pageSize} />
          <Pager
            page={cursors.length + 1}
            hasNewer={cursors.length > 0}
            hasOlder={Boolean(runs.data?.nextCursor)}
            onNewer={() => setCursors(cursors.slice(0, -1))}
            onOlder={() => runs.data?.nextCursor && setCursors([...cursors, runs.data.nextCursor])}
          />
        </>
      )}

      {filters.q && (
        <section className="section" aria-labelledby="entity-exchanges">
          <h2 id="entity-exchanges">Requests sent about {filters.q}</h2>
          {found.error && !entityError && <ErrorNotice error={found.error} />}
          {found.data && found.data.exchanges.length === 0 && (
            <p className="muted">These runs sent no request to another system (yet).</p>
          )}
          {found.data && found.data.exchanges.length > 0 && <ExchangeList exchanges={found.data.exchanges} showRun />}
        </section>
      )}
    </>
  );
}
