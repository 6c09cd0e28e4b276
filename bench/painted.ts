// How painted an output is (issue 27's second reading, beside readability.ts): readability alone
// would pick the photo itself. Two numbers, each 0 for the photo and 1 for the painting's own,
// of the form 1 − d(output, painting) / d(photo, painting), d the Wasserstein-2 distance of two
// histograms (256 quantiles), the painting scaled to the output's longest side as the run takes it:
// - palette: the R, G and B histograms (the colours moved from the photo's toward the painting's);
// - texture: the histogram of the grey image's gradient magnitude (central differences, full
//   resolution): the contrast and density of strokes, which a tint of the photo does not change.
//   node dist/bench/painted.js out.png photo.jpg painting.jpg
import * as tf from '@tensorflow/tfjs';
import { readImage, scaleImage } from '../src/index.js';
import { gradientMagnitude, grey } from './readability.js';

const QUANTILES = 256;

/** The values at QUANTILES evenly spaced quantiles. */
function quantiles(values: Float64Array): Float64Array {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  return Float64Array.from({ length: QUANTILES }, (_, k) => {
    const at = ((k + 0.5) / QUANTILES) * n - 0.5;
    const [lo, hi] = [Math.max(0, Math.floor(at)), Math.min(n - 1, Math.ceil(at))];
    const t = Math.min(1, Math.max(0, at - lo));
    return sorted[lo]! * (1 - t) + sorted[hi]! * t;
  });
}

/** The W2 distance of the histograms of each pair of samples (any counts), over the pairs. */
function distance(a: readonly Float64Array[], b: readonly Float64Array[]): number {
  let sum = 0;
  a.forEach((samples, i) => {
    const [qa, qb] = [quantiles(samples), quantiles(b[i]!)];
    for (let k = 0; k < QUANTILES; k++) sum += (qa[k]! - qb[k]!) ** 2;
  });
  return Math.sqrt(sum / (a.length * QUANTILES));
}

/** An RGB image [h, w, 3] in 0..255. */
export interface Rgb {
  h: number;
  w: number;
  data: ArrayLike<number>;
}

/** The R, G and B values apart. */
const channels = ({ h, w, data }: Rgb) =>
  [0, 1, 2].map((c) => Float64Array.from({ length: h * w }, (_, p) => data[3 * p + c]!));

/** The grey image's gradient magnitudes by central differences over the interior (readability.ts's). */
const gradientMagnitudes = ({ h, w, data }: Rgb) => [gradientMagnitude(grey(data, h, w))];

/** 1 − d(output, painting) / d(photo, painting) for the samples `of` takes from each image. */
function toward(of: (x: Rgb) => Float64Array[], output: Rgb, photo: Rgb, painting: Rgb): number {
  const apart = distance(of(photo), of(painting));
  return apart > 0 ? 1 - distance(of(output), of(painting)) / apart : 0;
}

export interface Painted {
  palette: number;
  texture: number;
}

/** Both readings; the photo at the output's size, the painting at the run's style size. */
export function painted(output: Rgb, photo: Rgb, painting: Rgb): Painted {
  return {
    palette: toward(channels, output, photo, painting),
    texture: toward(gradientMagnitudes, output, photo, painting),
  };
}

/** Both readings of an output file against its photo and painting files (scaled to its longest side). */
export async function paintedOfFiles(outputFile: string, photoFile: string, paintingFile: string): Promise<Painted> {
  const output = await readImage(outputFile);
  const [h, w] = output.shape;
  const side = Math.max(h, w);
  const scaled = async (file: string): Promise<Rgb> => {
    const raw = await readImage(file);
    const image = tf.tidy(() => tf.mul(scaleImage(raw, side), 255));
    const [, ih, iw] = image.shape;
    const rgb = { h: ih!, w: iw!, data: image.dataSync() };
    tf.dispose([raw, image]);
    return rgb;
  };
  const [photo, painting] = [await scaled(photoFile), await scaled(paintingFile)];
  const result = painted({ h, w, data: output.dataSync() }, photo, painting);
  output.dispose();
  return result;
}

if (process.argv[1]?.endsWith('painted.js') && process.argv.length >= 5) {
  const [outputFile, photoFile, paintingFile] = process.argv.slice(2) as [string, string, string];
  const { palette, texture } = await paintedOfFiles(outputFile, photoFile, paintingFile);
  console.log(`palette ${palette.toFixed(3)}  texture ${texture.toFixed(3)}`);
}
