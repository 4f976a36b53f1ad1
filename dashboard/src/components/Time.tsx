import { useNow } from "../format/now.tsx";
import { formatAge, formatFull, formatLocal, toEpochMs } from "../format/time.ts";

/** A moment in the viewer's time zone with its age; "—" when there is none. */
export function Time({ at, ageOnly = false }: { at: string | number | null | undefined; ageOnly?: boolean }) {
  const now = useNow();
  const ms = toEpochMs(at);
  if (ms === null) return <span className="muted">—</span>;
  const age = formatAge(ms, now);
  return (
    <time dateTime={new Date(ms).toISOString()} title={formatFull(ms)} className="time">
      {ageOnly ? (
        age
      ) : (
        <>
          <span className="time-local">{formatLocal(ms, now)} · </span>
          <span className="muted">{age}</span>
        </>
      )}
    </time>
  );
}
