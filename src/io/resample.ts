/**
 * TensorFlow's bicubic resize on plain arrays of pixels, and the size an image is scaled to: what
 * the library's resize (core/resize.ts) computes on tensors, and what reading an image uses to
 * shrink it before any tensor exists (io/images.ts).
 */

/** Keys' cubic convolution kernel with a = -0.5 (the one TensorFlow's bicubic resize uses). */
function keys(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** TensorFlow samples the kernel from a table at multiples of 1/1024 of a pixel. */
const TABLE_SIZE = 1024;

/** For one axis: the 4 source indices per output pixel (clamped) and their weights. */
interface AxisTaps {
  indices: Int32Array[]; // 4 arrays of length outSize
  weights: Float32Array[]; // 4 arrays of length outSize
}

/**
 * The taps of TensorFlow's resize_bicubic with half_pixel_centers (what tf.image.resize uses for
 * 'bicubic' without antialias), replicating its float32 arithmetic so the weights are identical:
 * source position (i + 0.5) * scale - 0.5 with scale = in / out; taps floor(pos) - 1 .. + 2;
 * the fractional part is rounded to 1/1024 (TF's lookup table); taps outside the image get
 * weight 0 and the weights are renormalised to sum to 1.
 */
function axisTaps(inSize: number, outSize: number): AxisTaps {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const indices = [0, 1, 2, 3].map(() => new Int32Array(outSize));
  const weights = [0, 1, 2, 3].map(() => new Float32Array(outSize));
  for (let i = 0; i < outSize; i++) {
    const pos = f(f((i + 0.5) * scale) - 0.5);
    const base = Math.floor(pos);
    const offset = roundHalfEven((pos - base) * TABLE_SIZE) / TABLE_SIZE;
    const w = [keys(offset + 1), keys(offset), keys(1 - offset), keys(2 - offset)].map(f);
    for (let k = 0; k < 4; k++) {
      const src = base - 1 + k;
      const inside = src >= 0 && src < inSize;
      indices[k][i] = Math.min(inSize - 1, Math.max(0, src)); // any valid index; its weight is 0
      if (!inside) w[k] = 0;
    }
    const norm = f(1 / f(f(f(w[0] + w[1]) + w[2]) + w[3]));
    for (let k = 0; k < 4; k++) weights[k][i] = f(w[k] * norm);
  }
  return { indices, weights };
}

/** C's lrintf in the default rounding mode: to nearest, ties to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Bicubic resize of an image of `channels` interleaved channels, inHeight × inWidth, to height ×
 * width, with TensorFlow's weights (see axisTaps). Separable: rows first, then columns (TF's
 * order), summed in float64, so the result is TF's to float32 rounding. `row(y)` gives the source
 * row y (inWidth × channels values); it is read at once, so it may reuse one buffer: the source
 * image itself need not be in memory as floats.
 */
export function resizeRows(
  row: (y: number) => ArrayLike<number>,
  [inHeight, inWidth, channels]: readonly [number, number, number],
  height: number,
  width: number,
): Float32Array {
  const rowLength = inWidth * channels;

  // Rows: mid[y] = sum over the 4 taps of weight * source row (taps with weight 0 are skipped).
  const rows = axisTaps(inHeight, height);
  const mid = new Float64Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    for (let k = 0; k < 4; k++) {
      const weight = rows.weights[k][y];
      if (weight === 0) continue;
      const src = row(rows.indices[k][y]);
      const to = y * rowLength;
      for (let j = 0; j < rowLength; j++) mid[to + j] += weight * src[j];
    }
  }

  // Columns: out[y, x] = sum over the 4 taps of weight * mid[y, tap].
  const cols = axisTaps(inWidth, width);
  const out = new Float32Array(height * width * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) {
          const weight = cols.weights[k][x];
          if (weight !== 0) sum += weight * mid[(y * inWidth + cols.indices[k][x]) * channels + c];
        }
        out[(y * width + x) * channels + c] = sum;
      }
    }
  }
  return out;
}

/** Target size that makes the larger side `maxSide`, keeping the aspect ratio (at least 1 px). */
export function scaledSize(height: number, width: number, maxSide: number): [number, number] {
  // Multiply first: the integer product is exact, so halves round the same way every time.
  if (height >= width) return [maxSide, Math.max(1, Math.round((width * maxSide) / height))];
  return [Math.max(1, Math.round((height * maxSide) / width)), maxSide];
}
