/**
 * The cost curve of a run (`--plot FILE`, and the preview page): the total cost and its three
 * weighted parts on a log scale, against iterations or seconds, each scale's start marked. The
 * same drawing is written as SVG, or rasterised into a PNG.
 */
import * as path from 'node:path';
import { Jimp, loadFont } from 'jimp';
import { SANS_10_BLACK } from 'jimp/fonts';
import { InputError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { CostHistory, SERIES, type CostPoint } from './history.js';

export type Axis = 'iteration' | 'seconds';
const COLORS: Record<(typeof SERIES)[number], string> = {
  total: '#111111',
  content: '#1f77b4',
  style: '#d62728',
  variation: '#2ca02c',
};
const MARGIN = { left: 64, right: 16, top: 24, bottom: 40 };

/** A point's value of each series: the total and the weighted parts as the run reports them. */
const value = (p: CostPoint, series: (typeof SERIES)[number]) => p.costs[series];

/** The drawing in plot coordinates: polylines per series, scale marks, ticks. */
interface Drawing {
  width: number;
  height: number;
  lines: { series: (typeof SERIES)[number]; points: [number, number][] }[];
  marks: { x: number; label: string }[];
  xTicks: { x: number; label: string }[];
  yTicks: { y: number; label: string }[];
  xLabel: string;
}

function layout(history: CostHistory, axis: Axis, width: number, height: number): Drawing {
  const xs = history.points.map((p) => p[axis]);
  const values = history.points.flatMap((p) => SERIES.map((s) => value(p, s))).filter((v) => v > 0 && isFinite(v));
  // Loops, not Math.min(...xs): a long run has more points than a call takes arguments.
  const [x0, x1] = [xs.reduce((a, b) => Math.min(a, b), 0), xs.reduce((a, b) => Math.max(a, b), 1)];
  let lo = values.reduce((a, b) => Math.min(a, b), Infinity);
  let hi = values.reduce((a, b) => Math.max(a, b), -Infinity);
  if (!values.length) [lo, hi] = [1, 10];
  const [y0, y1] = [Math.floor(Math.log10(lo)), Math.max(Math.ceil(Math.log10(hi)), Math.floor(Math.log10(lo)) + 1)];
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (v: number) => MARGIN.top + (1 - (Math.log10(v) - y0) / (y1 - y0)) * plotH;
  const lines = SERIES.map((series) => ({
    series,
    points: history.points
      .filter((p) => value(p, series) > 0 && isFinite(value(p, series)))
      .map((p): [number, number] => [px(p[axis]), py(value(p, series))]),
  }));
  const marks = history.scales.map((s) => ({ x: px(s[axis]), label: `scale ${s.index}: ${s.size} px` }));
  const step = niceStep((x1 - x0) / 5);
  const xTicks = [];
  for (let k = Math.ceil(x0 / step); k * step <= x1; k++)
    xTicks.push({ x: px(k * step), label: String(+(k * step).toPrecision(6)) });
  const yTicks = [];
  for (let e = y0; e <= y1; e++) yTicks.push({ y: py(10 ** e), label: `1e${e}` });
  return { width, height, lines, marks, xTicks, yTicks, xLabel: axis === 'iteration' ? 'iteration' : 'seconds' };
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The curve as an SVG document. */
export function plotSvg(history: CostHistory, axis: Axis = 'iteration', width = 720, height = 360): string {
  const d = layout(history, axis, width, height);
  const bottom = height - MARGIN.bottom;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<g class="axes" stroke="#444" fill="none"><path d="M${MARGIN.left} ${MARGIN.top}V${bottom}H${width - MARGIN.right}"/></g>`,
    ...d.xTicks.map(
      (t) => `<text class="x-tick" x="${t.x.toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${t.label}</text>`,
    ),
    ...d.yTicks.map(
      (t) =>
        `<text class="y-tick" x="${MARGIN.left - 6}" y="${(t.y + 4).toFixed(1)}" text-anchor="end">${t.label}</text>` +
        `<path d="M${MARGIN.left} ${t.y.toFixed(1)}H${width - MARGIN.right}" stroke="#eee"/>`,
    ),
    `<text x="${(MARGIN.left + width - MARGIN.right) / 2}" y="${height - 8}" text-anchor="middle">${d.xLabel}</text>`,
    ...d.marks.map(
      (m) =>
        `<g class="scale"><path d="M${m.x.toFixed(1)} ${MARGIN.top}V${bottom}" stroke="#999" stroke-dasharray="4 3"/>` +
        `<text x="${(m.x + 3).toFixed(1)}" y="${MARGIN.top - 6}">${escape(m.label)}</text></g>`,
    ),
    // The total last, wide and light, so that the part it mostly is (style) shows through.
    ...[...d.lines.slice(1), d.lines[0]!].map(
      (l) =>
        `<path class="series ${l.series}" fill="none" stroke="${COLORS[l.series]}" ${l.series === 'total' ? 'stroke-width="4" stroke-opacity="0.35"' : 'stroke-width="1.5"'} d="${l.points
          .map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`)
          .join('')}"/>`,
    ),
    ...SERIES.map(
      (s, i) =>
        `<text class="legend" x="${width - MARGIN.right - 70}" y="${MARGIN.top + 14 + 14 * i}" fill="${COLORS[s]}">${s}</text>`,
    ),
    '</svg>',
  ];
  return parts.join('\n') + '\n';
}

/** The same drawing as a PNG. */
export async function plotPng(
  history: CostHistory,
  axis: Axis = 'iteration',
  width = 720,
  height = 360,
): Promise<Buffer> {
  const d = layout(history, axis, width, height);
  const image = new Jimp({ width, height, color: 0xffffffff });
  const bottom = height - MARGIN.bottom;
  const line = (a: [number, number], b: [number, number], rgb: number) => drawLine(image.bitmap, a, b, rgb);
  for (const t of d.yTicks) line([MARGIN.left, t.y], [width - MARGIN.right, t.y], 0xeeeeee);
  for (const m of d.marks)
    for (let y = MARGIN.top; y < bottom; y += 7) line([m.x, y], [m.x, Math.min(y + 4, bottom)], 0x999999);
  line([MARGIN.left, MARGIN.top], [MARGIN.left, bottom], 0x444444);
  line([MARGIN.left, bottom], [width - MARGIN.right, bottom], 0x444444);
  for (const t of d.xTicks) line([t.x, bottom], [t.x, bottom + 4], 0x444444);
  for (const l of d.lines) {
    const rgb = parseInt(COLORS[l.series].slice(1), 16);
    for (let i = 1; i < l.points.length; i++) line(l.points[i - 1]!, l.points[i]!, rgb);
  }
  const font = await loadFont(SANS_10_BLACK);
  const print = (x: number, y: number, text: string) => image.print({ font, x: Math.round(x), y: Math.round(y), text });
  for (const t of d.xTicks) print(t.x - 8, bottom + 6, t.label);
  for (const t of d.yTicks) print(4, t.y - 7, t.label);
  for (const m of d.marks) print(m.x + 3, 4, m.label);
  print((width - 40) / 2, height - 16, d.xLabel);
  SERIES.forEach((s, i) => {
    line(
      [width - MARGIN.right - 90, MARGIN.top + 10 + 14 * i],
      [width - MARGIN.right - 76, MARGIN.top + 10 + 14 * i],
      parseInt(COLORS[s].slice(1), 16),
    );
    print(width - MARGIN.right - 72, MARGIN.top + 3 + 14 * i, s);
  });
  return image.getBuffer('image/png');
}

/** A one-pixel line from a to b (Bresenham) into an RGBA bitmap. */
function drawLine(
  bitmap: { data: Buffer | Uint8Array; width: number; height: number },
  a: [number, number],
  b: [number, number],
  rgb: number,
) {
  let [x, y] = [Math.round(a[0]), Math.round(a[1])];
  const [x1, y1] = [Math.round(b[0]), Math.round(b[1])];
  const [dx, dy] = [Math.abs(x1 - x), -Math.abs(y1 - y)];
  const [sx, sy] = [x < x1 ? 1 : -1, y < y1 ? 1 : -1];
  let err = dx + dy;
  for (;;) {
    if (x >= 0 && y >= 0 && x < bitmap.width && y < bitmap.height) {
      const i = (y * bitmap.width + x) * 4;
      bitmap.data[i] = (rgb >> 16) & 255;
      bitmap.data[i + 1] = (rgb >> 8) & 255;
      bitmap.data[i + 2] = rgb & 255;
      bitmap.data[i + 3] = 255;
    }
    if (x === x1 && y === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) [err, x] = [err + dy, x + sx];
    if (e2 <= dx) [err, y] = [err + dx, y + sy];
  }
}

/** The formats of `--plot`, by extension. */
export const PLOT_EXTENSIONS = ['.svg', '.png'];

/** Refuses a plot file of another format, before the run. */
export function checkPlotPath(file: string): void {
  if (!PLOT_EXTENSIONS.includes(path.extname(file).toLowerCase()))
    throw new InputError(`--plot ${file}: must end in .svg or .png`);
}

/** Writes the curve against iterations as SVG or PNG (by extension), atomically. */
export async function writePlot(file: string, history: CostHistory): Promise<void> {
  const svg = path.extname(file).toLowerCase() === '.svg';
  const bytes = svg ? Buffer.from(plotSvg(history), 'utf8') : await plotPng(history);
  await writeFileAtomic(file, bytes, 'plot');
}
