// How much of the photo's structure an output keeps (issue 27's reading): both images to grey,
// box-shrunk ×2, blurred by a Gaussian of σ 1, their gradient magnitudes by central differences,
// and the Pearson correlation of the two magnitude maps: 1 = the photo's edges intact, 0 = gone.
//   node dist/bench/readability.js out.png photo.jpg   (the photo is scaled to the output's size)
import * as tf from '@tensorflow/tfjs';
import { readImage, scaleImage } from '../src/index.js';

/** A grey image [h][w] in float64. */
export interface Grey {
  h: number;
  w: number;
  data: Float64Array;
}

/** RGB [h, w, 3] → the mean of the channels. */
export function grey(rgb: ArrayLike<number>, h: number, w: number): Grey {
  const data = new Float64Array(h * w);
  for (let p = 0; p < h * w; p++) data[p] = (rgb[3 * p]! + rgb[3 * p + 1]! + rgb[3 * p + 2]!) / 3;
  return { h, w, data };
}

/** 2×2 box averages, odd last row and column dropped. */
function shrink({ h, w, data }: Grey): Grey {
  const [sh, sw] = [Math.floor(h / 2), Math.floor(w / 2)];
  const out = new Float64Array(sh * sw);
  for (let y = 0; y < sh; y++)
    for (let x = 0; x < sw; x++) {
      const at = (dy: number, dx: number) => data[(2 * y + dy) * w + 2 * x + dx]!;
      out[y * sw + x] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
    }
  return { h: sh, w: sw, data: out };
}

/** A Gaussian blur of σ px (cut at 3σ), the border clamped. */
function blur({ h, w, data }: Grey, sigma: number): Grey {
  const r = Math.ceil(3 * sigma);
  const taps = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = taps.reduce((a, b) => a + b, 0);
  const k = taps.map((t) => t / sum);
  const pass = (src: Float64Array, dy: number, dx: number) => {
    const out = new Float64Array(h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let v = 0;
        for (let i = -r; i <= r; i++) {
          const yy = Math.min(h - 1, Math.max(0, y + i * dy));
          const xx = Math.min(w - 1, Math.max(0, x + i * dx));
          v += k[i + r]! * src[yy * w + xx]!;
        }
        out[y * w + x] = v;
      }
    return out;
  };
  return { h, w, data: pass(pass(data, 1, 0), 0, 1) };
}

/** |∇| by central differences over the interior. */
export function gradientMagnitude({ h, w, data }: Grey): Float64Array {
  const out: number[] = [];
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const gx = (data[y * w + x + 1]! - data[y * w + x - 1]!) / 2;
      const gy = (data[(y + 1) * w + x]! - data[(y - 1) * w + x]!) / 2;
      out.push(Math.hypot(gx, gy));
    }
  return Float64Array.from(out);
}

function pearson(a: Float64Array, b: Float64Array): number {
  const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
  const [ma, mb] = [mean(a), mean(b)];
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    const [da, db] = [a[i]! - ma, b[i]! - mb];
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** The readability of `output` against `photo`, both RGB [h, w, 3] of the same size. */
export function readability(output: ArrayLike<number>, photo: ArrayLike<number>, h: number, w: number): number {
  const edges = (rgb: ArrayLike<number>) => gradientMagnitude(blur(shrink(grey(rgb, h, w)), 1));
  return pearson(edges(output), edges(photo));
}

/** The readability of an output file against the photo file it came from (scaled to its size). */
export async function readabilityOfFiles(outputFile: string, photoFile: string): Promise<number> {
  const output = await readImage(outputFile);
  const raw = await readImage(photoFile);
  const [h, w] = output.shape;
  const photo = tf.tidy(() => tf.mul(scaleImage(raw, Math.max(h, w)), 255));
  try {
    if (photo.shape[1] !== h || photo.shape[2] !== w)
      throw new Error(`the photo scales to ${photo.shape[2]}×${photo.shape[1]}, the output is ${w}×${h}`);
    return readability(output.dataSync(), photo.dataSync(), h, w);
  } finally {
    tf.dispose([output, raw, photo]);
  }
}

if (process.argv[1]?.endsWith('readability.js') && process.argv.length >= 4) {
  const [outputFile, photoFile] = process.argv.slice(2) as [string, string];
  console.log((await readabilityOfFiles(outputFile, photoFile)).toFixed(3));
}
