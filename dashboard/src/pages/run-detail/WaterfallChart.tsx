import { formatDuration } from "../../format/time.ts";
import type { Bar, BarKind, Waterfall } from "./waterfall-rows.ts";

const legend: { kind: BarKind; label: string }[] = [
  { kind: "queued", label: "queued" },
  { kind: "running", label: "running" },
  { kind: "retry", label: "retry back-off" },
  { kind: "waiting", label: "waiting (rate limit, circuit)" },
  { kind: "paused", label: "paused (credentials)" },
  { kind: "sleeping", label: "sleeping" },
  { kind: "succeeded", label: "attempt succeeded" },
  { kind: "failed", label: "attempt failed" },
  { kind: "exchange-ok", label: "request ok" },
  { kind: "exchange-failed", label: "request failed" },
];

/**
 * The waterfall: each lane a row, each bar placed on the run's span. A bar is at least a few pixels wide, so a
 * 20 ms request stays visible on a run that waited an hour; its exact times are in its label.
 */
export function WaterfallChart({ waterfall }: { waterfall: Waterfall }) {
  const span = Math.max(1, waterfall.end - waterfall.start);
  const at = (ms: number) => ((ms - waterfall.start) / span) * 100;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div className="waterfall">
      <div className="waterfall-axis" aria-hidden="true">
        <span className="waterfall-label" />
        <span className="waterfall-track">
          {ticks.map((tick) => (
            <span key={tick} className="waterfall-tick" style={{ left: `${tick * 100}%` }}>
              +{formatDuration(tick * span)}
            </span>
          ))}
        </span>
      </div>
      <ol className="waterfall-lanes" aria-label="Timeline of the run">
        {waterfall.lanes.map((lane) => (
          <li key={lane.key} className={`waterfall-lane depth-${lane.depth}`}>
            <span className="waterfall-label" title={lane.label}>
              {lane.label}
            </span>
            <span className="waterfall-track">
              {lane.bars.map((bar) => (
                <BarView
                  key={`${bar.start}-${bar.kind}-${bar.label}`}
                  bar={bar}
                  left={at(bar.start)}
                  width={at(bar.end) - at(bar.start)}
                />
              ))}
            </span>
          </li>
        ))}
      </ol>
      <ul className="waterfall-legend" aria-label="Legend">
        {legend.map((item) => (
          <li key={item.kind}>
            <span className={`bar bar-${item.kind}`} aria-hidden="true" /> {item.label}
          </li>
        ))}
      </ul>
    </div>
  );
}

function BarView({ bar, left, width }: { bar: Bar; left: number; width: number }) {
  const style = { left: `${Math.min(left, 99.5)}%`, width: `max(4px, ${width}%)` };
  if (bar.exchangeId) {
    return (
      <a className={`bar bar-${bar.kind}`} style={style} href={`#exchange-${bar.exchangeId}`} title={bar.label}>
        <span className="visually-hidden">{bar.label}</span>
      </a>
    );
  }
  return (
    <span className={`bar bar-${bar.kind}`} style={style} title={bar.label}>
      <span className="visually-hidden">{bar.label}</span>
    </span>
  );
}
