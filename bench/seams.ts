// Do the tiles of a tiled run show? For an output image and the tile size it ran with, the mean
// |Δ| between neighbouring columns (rows) at each line where a seam could be — a tile's origin,
// where its share starts (origin + context) and where two tiles' windows cross — ranked among all
// the image's columns (rows). A seam ranks near 100; a line like any other near 50. Run it on the
// content image scaled to the same size too: edges of the photo rank high in both.
//   node dist/bench/seams.js OUT.png TILE_SIZE [DEEPEST_LAYER]
import { Jimp } from 'jimp';
import { tileGeometry, tileLayout, type TileLayout } from '../src/index.js';

const [file, tileText, deepest = 'block5_conv2'] = process.argv.slice(2);
if (!file || !tileText) throw new Error('usage: node dist/bench/seams.js OUT.png TILE_SIZE [DEEPEST_LAYER]');
const image = await Jimp.read(file);
const { width, height, data } = image.bitmap;
const layout = tileLayout(height, width, Number(tileText), deepest);

/** Mean |Δ| over the three channels between position i and i + 1 along an axis, for every i. */
function steps(along: 'columns' | 'rows'): number[] {
  const [n, m] = along === 'columns' ? [width, height] : [height, width];
  const at = (i: number, j: number, c: number) =>
    data[((along === 'columns' ? j * width + i : i * width + j) << 2) + c]!;
  return Array.from({ length: n - 1 }, (_, i) => {
    let sum = 0;
    for (let j = 0; j < m; j++) for (let c = 0; c < 3; c++) sum += Math.abs(at(i + 1, j, c) - at(i, j, c));
    return sum / (3 * m);
  });
}

/** The lines where a seam could show along one axis. */
function lines(axis: TileLayout['rows']): number[] {
  const { context } = tileGeometry(axis.size, deepest);
  return axis.origins.slice(1).flatMap((o, k) => [o, o + context, Math.round((axis.origins[k]! + axis.size + o) / 2)]);
}

console.log(`${file}: ${width}×${height}, tiles of ${layout.rows.size}×${layout.cols.size}`);
for (const [along, axis] of [
  ['columns', layout.cols],
  ['rows', layout.rows],
] as const) {
  const s = steps(along);
  // The strongest step within ±2 px, so that a seam a pixel off its line is still seen.
  const near = s.map((_, i) => Math.max(...s.slice(Math.max(0, i - 2), i + 3)));
  const sorted = [...near].sort((a, b) => a - b);
  const percentile = (i: number) => (100 * sorted.findIndex((v) => v >= near[i]!)) / sorted.length;
  const ranks = lines(axis).map((line) => [line, percentile(line)] as const);
  const mean = ranks.reduce((a, [, r]) => a + r, 0) / Math.max(1, ranks.length);
  console.log(
    `${along}: ${ranks.map(([l, r]) => `${l}:${r.toFixed(0)}`).join(' ')} (line:percentile); mean ${mean.toFixed(0)}`,
  );
}
