import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatLocal } from "../format/time.ts";
import type { Activity } from "../pages/overview/throughput.ts";

const height = 180;
const hourMinute = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/**
 * Runs created per minute (bars) and the share of them that failed or died (line, right axis), with uPlot on a
 * canvas. The canvas keeps its height from the first render on, so data arriving never moves the page; the
 * same figures are in a table for screen readers.
 */
export function ActivityChart({ title, activity }: { title: string; activity: Activity | null }) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // uPlot calls the range function on every redraw: it reads the current span from here.
  const span = useRef({ from: 0, to: 1 });
  if (activity) span.current = { from: activity.from, to: activity.to };
  const known = activity?.buckets ?? [];
  const data: uPlot.AlignedData = [
    // Each bar stands in the middle of its bucket.
    known.map((bucket) => (bucket.start + bucket.end) / 2000),
    known.map((bucket) => round(bucket.perMinute)),
    known.map((bucket) => (bucket.errorRate === null ? null : round(bucket.errorRate))),
  ];

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const colors = readColors(element);
    const chart = new uPlot(
      {
        width: Math.max(240, element.clientWidth),
        height,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true, range: () => [span.current.from / 1000, span.current.to / 1000] },
          runs: { range: (_chart, _min, max) => [0, Math.max(1, max)] },
          rate: { range: [0, 100] },
        },
        series: [
          { label: "time" },
          {
            label: "runs/min",
            scale: "runs",
            stroke: colors.accent,
            fill: colors.accentFill,
            paths: uPlot.paths.bars?.({ size: [0.8, 40] }),
            points: { show: false },
          },
          {
            label: "error rate %",
            scale: "rate",
            stroke: colors.bad,
            width: 2,
            spanGaps: true,
            points: { size: 5, fill: colors.bad },
          },
        ],
        axes: [
          {
            stroke: colors.text,
            grid: { stroke: colors.grid },
            ticks: { stroke: colors.grid },
            // The viewer's own clock (24-hour or not, as their locale writes it), not uPlot's English default.
            values: (_chart, ticks) => ticks.map((tick) => hourMinute.format(tick * 1000)),
          },
          {
            scale: "runs",
            stroke: colors.text,
            grid: { stroke: colors.grid },
            ticks: { stroke: colors.grid },
            size: 48,
          },
          {
            scale: "rate",
            side: 1,
            stroke: colors.bad,
            grid: { show: false },
            values: (_chart, ticks) => ticks.map((tick) => `${tick}%`),
            size: 48,
          },
        ],
      },
      [[], [], []],
      element,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(240, element.clientWidth), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, []);

  const serialized = JSON.stringify(data);
  // biome-ignore lint/correctness/useExhaustiveDependencies: redraw when the figures change, not on every render
  useEffect(() => {
    plot.current?.setData(data);
  }, [serialized]);

  return (
    <figure className="chart">
      <figcaption>
        {title}
        {activity?.capped && <span className="muted"> · failures counted up to 10,000: rates are lower bounds</span>}
      </figcaption>
      <div ref={container} className="chart-canvas" aria-hidden="true" />
      {/* A table ignores overflow: hidden, so the box that hides it is a div around it. */}
      <div className="visually-hidden">
        <table>
          <caption>{title}: runs created per minute and the share that failed</caption>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">Runs per minute</th>
              <th scope="col">Error rate</th>
            </tr>
          </thead>
          <tbody>
            {known.map((bucket) => (
              <tr key={bucket.start}>
                <td>{formatLocal(bucket.start, Date.now())}</td>
                <td>{round(bucket.perMinute)}</td>
                <td>{bucket.errorRate === null ? "no runs" : `${round(bucket.errorRate)}%`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The chart draws on a canvas, which CSS cannot colour: it takes the theme's variables once. */
function readColors(element: HTMLElement) {
  const style = getComputedStyle(element);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    accent: read("--accent", "#2563eb"),
    accentFill: read("--accent-fill", "rgba(37, 99, 235, 0.35)"),
    bad: read("--bad", "#dc2626"),
    text: read("--text-muted", "#555"),
    grid: read("--border", "#ddd"),
  };
}
