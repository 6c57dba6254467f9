/**
 * A hand-written SVG plot of the simulator's results: response time against load, one line per
 * policy, mean on the left and p99 on the right, both on a log scale (random at high load is an
 * order of magnitude above the rest). Pure: returns the document as a string.
 */
import type { LoadResult } from "./simulate.js";

export interface PlotOptions {
  title: string;
  subtitle?: string;
}

const W = 1100;
const H = 480;
const PANEL_W = 360;
const PANEL_H = 340;
const TOP = 78;
const LEFT = [72, 72 + PANEL_W + 70];
const LEGEND_X = LEFT[1]! + PANEL_W + 24;

/** Distinguishable colours; the references get black (oracle) and grey (random). */
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

/** Log-scale ticks (1, 2, 5 × 10^k) covering [lo, hi]. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

/** The plot, or an SVG saying there is nothing to plot. */
export function responsePlot(results: readonly LoadResult[], options: PlotOptions, defaultPolicy?: string): string {
  const loads = results.map((r) => r.load);
  const names: string[] = [];
  for (const r of results) for (const p of r.policies) if (!names.includes(p.policy)) names.push(p.policy);
  const colour = (name: string, i: number): string => (name === "oracle" ? "#000000" : name === "random" ? "#9a9a9a" : (COLOURS[i % COLOURS.length] as string));

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(options.title)}</text>`);
  if (options.subtitle) parts.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#444">${esc(options.subtitle)}</text>`);

  const panels: Array<{ label: string; value: (p: LoadResult["policies"][number]) => number }> = [
    { label: "mean response time (ms, log scale)", value: (p) => p.meanMs },
    { label: "p99 response time (ms, log scale)", value: (p) => p.p99Ms },
  ];
  const minLoad = Math.min(...loads);
  const maxLoad = Math.max(...loads);
  const loadSpan = maxLoad - minLoad || 1;
  panels.forEach((panel, pi) => {
    const x0 = LEFT[pi] as number;
    const values = results.flatMap((r) => r.policies.map(panel.value)).filter((v) => v > 0 && Number.isFinite(v));
    if (values.length === 0) return;
    const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
    const ly = (v: number): number => TOP + PANEL_H - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1)) * PANEL_H;
    const lx = (l: number): number => (loads.length === 1 ? x0 + PANEL_W / 2 : x0 + ((l - minLoad) / loadSpan) * PANEL_W);
    parts.push(`<g>`);
    parts.push(`<text x="${x0 + PANEL_W / 2}" y="${TOP - 12}" text-anchor="middle" font-weight="bold">${esc(panel.label)}</text>`);
    for (const t of logTicks(lo, hi)) {
      const y = ly(t).toFixed(1);
      parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + PANEL_W}" y2="${y}" stroke="#e4e4e4"/>`);
      parts.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
    }
    for (const l of loads) {
      const x = lx(l).toFixed(1);
      parts.push(`<line x1="${x}" y1="${TOP}" x2="${x}" y2="${TOP + PANEL_H}" stroke="#f0f0f0"/>`);
      parts.push(`<text x="${x}" y="${TOP + PANEL_H + 16}" text-anchor="middle">${fmt(l)}</text>`);
    }
    parts.push(`<rect x="${x0}" y="${TOP}" width="${PANEL_W}" height="${PANEL_H}" fill="none" stroke="#333"/>`);
    parts.push(`<text x="${x0 + PANEL_W / 2}" y="${TOP + PANEL_H + 36}" text-anchor="middle">offered load (share of total capacity)</text>`);
    names.forEach((name, ni) => {
      const pts: string[] = [];
      for (const r of results) {
        const p = r.policies.find((x) => x.policy === name);
        const v = p ? panel.value(p) : NaN;
        if (v > 0 && Number.isFinite(v)) pts.push(`${lx(r.load).toFixed(1)},${ly(v).toFixed(1)}`);
      }
      if (pts.length === 0) return;
      const c = colour(name, ni);
      const dash = name === "random" ? ` stroke-dasharray="6 4"` : "";
      const width = name === "oracle" || name === defaultPolicy ? 2.5 : 1.5;
      if (pts.length > 1) parts.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${c}" stroke-width="${width}"${dash}/>`);
      for (const pt of pts) {
        const [x, y] = pt.split(",");
        parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${c}"/>`);
      }
    });
    parts.push(`</g>`);
  });

  names.forEach((name, ni) => {
    const y = TOP + 8 + ni * 20;
    const c = colour(name, ni);
    const dash = name === "random" ? ` stroke-dasharray="6 4"` : "";
    parts.push(`<line x1="${LEGEND_X}" y1="${y}" x2="${LEGEND_X + 22}" y2="${y}" stroke="${c}" stroke-width="2.5"${dash}/>`);
    const label = name === defaultPolicy ? `${name} (default)` : name;
    parts.push(`<text x="${LEGEND_X + 28}" y="${y}" dominant-baseline="middle">${esc(label)}</text>`);
  });
  parts.push(`</svg>`);
  return `${parts.join("\n")}\n`;
}
