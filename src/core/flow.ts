/**
 * Dense optical flow between two frames, and what video stylisation does with it (Ruder,
 * Dosovitskiy and Brox, "Artistic style transfer for videos", 2016): warp the previous stylised
 * frame onto the next, and weigh each pixel by whether its flow is reliable.
 *
 * The flow is a coarse-to-fine dense Lucas–Kanade: on a Gaussian pyramid, from the coarsest level
 * down, each pixel's displacement is refined a few times by solving the brightness-constancy
 * equations summed over a Gaussian window around it (the structure tensor), with the second frame
 * warped by the current estimate; a 3×3 median after each level removes outliers (Sun, Roth and
 * Black, "Secrets of optical flow estimation", 2010). Plain TypeScript on Float32Arrays: at 256 px
 * it takes tens of milliseconds, far below a frame's optimisation (bench/README.md, "Video").
 */

import type { FloFlow } from '../io/flo.js';

/** A grey image, row-major, values in [0, 1]. */
export interface Grey {
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * A flow field: at each pixel p of the first frame, the displacement (u, v) in pixels to where it
 * is in the second: second(p + (u, v)) ≈ first(p). As a `.flo` file holds it.
 */
export type Flow = FloFlow;

/** How the flow is estimated; the defaults are measured (bench/README.md, "Video"). */
export interface FlowOptions {
  /** Refinements per pyramid level. */
  iterations?: number;
  /** σ of the Gaussian window of the structure tensor, in pixels of the level. */
  window?: number;
  /** The coarsest level's shorter side is at least this. */
  minSide?: number;
}

const FLOW_DEFAULTS: Required<FlowOptions> = { iterations: 5, window: 2, minSide: 16 };

/** Tikhonov term of the 2×2 solve (images in [0, 1]): a flat window (no gradient) keeps the coarser estimate. */
const REGULARISATION = 1e-7;

/** The grey (Rec. 601 luma) of an RGB image, [h·w·3] in [0, 1] row-major. */
export function greyOf(rgb: Float32Array, width: number, height: number): Grey {
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++)
    data[i] = 0.299 * rgb[3 * i]! + 0.587 * rgb[3 * i + 1]! + 0.114 * rgb[3 * i + 2]!;
  return { width, height, data };
}

/** A normalised 1-D Gaussian kernel of σ, radius ⌈3σ⌉. */
function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  return k.map((x) => x / sum);
}

/** `data` blurred by the separable kernel `k` (borders clamped). */
function blur(data: Float32Array, width: number, height: number, k: Float32Array): Float32Array {
  const r = (k.length - 1) / 2;
  const rows = new Float32Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r]! * data[row + Math.min(width - 1, Math.max(0, x + i))]!;
      rows[row + x] = s;
    }
  }
  const out = new Float32Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r]! * rows[Math.min(height - 1, Math.max(0, y + i)) * width + x]!;
      out[y * width + x] = s;
    }
  }
  return out;
}

/** The next pyramid level: blurred (σ 1) and every second pixel taken. */
function halve(image: Grey): Grey {
  const smooth = blur(image.data, image.width, image.height, gaussianKernel(1));
  const width = Math.ceil(image.width / 2);
  const height = Math.ceil(image.height / 2);
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = smooth[2 * y * image.width + 2 * x]!;
  return { width, height, data };
}

/** `data` (one channel, or `channels` interleaved) sampled bilinearly at (x, y), borders clamped. */
function sample(data: Float32Array, width: number, height: number, x: number, y: number, channels = 1, c = 0): number {
  const cx = Math.min(width - 1, Math.max(0, x));
  const cy = Math.min(height - 1, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(width - 1, x0 + 1);
  const y1 = Math.min(height - 1, y0 + 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const at = (xx: number, yy: number) => data[(yy * width + xx) * channels + c]!;
  const top = at(x0, y0) + fx * (at(x1, y0) - at(x0, y0));
  const bottom = at(x0, y1) + fx * (at(x1, y1) - at(x0, y1));
  return top + fy * (bottom - top);
}

/** The 3×3 median of each pixel (borders clamped), in place. */
function median3(data: Float32Array, width: number, height: number): void {
  const copy = data.slice();
  const window = new Float32Array(9);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let n = 0;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const yy = Math.min(height - 1, Math.max(0, y + dy));
          const xx = Math.min(width - 1, Math.max(0, x + dx));
          window[n++] = copy[yy * width + xx]!;
        }
      window.sort();
      data[y * width + x] = window[4]!;
    }
  }
}

/** The largest change of a displacement in one refinement, in pixels of the level. */
const MAX_STEP = 1;
const clampStep = (x: number) => Math.max(-MAX_STEP, Math.min(MAX_STEP, x));

/** One refinement of the flow at a level: the windowed least-squares increment, added in place. */
function refine(first: Grey, second: Grey, flow: Flow, k: Float32Array): void {
  const { width, height } = first;
  const n = width * height;
  const [xx, xy, yy, xt, yt] = Array.from({ length: 5 }, () => new Float32Array(n));
  const warped = new Float32Array(n);
  // A pixel whose match lies outside the second frame says nothing: it adds no equation.
  const inside = new Uint8Array(n);
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++, i++) {
      const [px, py] = [x + flow.u[i]!, y + flow.v[i]!];
      warped[i] = sample(second.data, width, height, px, py);
      inside[i] = px >= 0 && py >= 0 && px <= width - 1 && py <= height - 1 ? 1 : 0;
    }
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      // Gradients of the mean of the two (symmetric): central differences, one-sided at borders.
      const mean = (j: number) => 0.5 * (first.data[j]! + warped[j]!);
      const left = x > 0 ? i - 1 : i;
      const right = x < width - 1 ? i + 1 : i;
      const up = y > 0 ? i - width : i;
      const down = y < height - 1 ? i + width : i;
      const gx = (mean(right) - mean(left)) / Math.max(1, right - left);
      const gy = (mean(down) - mean(up)) / Math.max(1, (down - up) / width);
      const gt = inside[i] ? warped[i]! - first.data[i]! : 0;
      if (!inside[i]) continue;
      xx[i] = gx * gx;
      xy[i] = gx * gy;
      yy[i] = gy * gy;
      xt[i] = gx * gt;
      yt[i] = gy * gt;
    }
  }
  const [a, b, c, d, e] = [xx, xy, yy, xt, yt].map((m) => blur(m, width, height, k));
  for (let i = 0; i < n; i++) {
    const a11 = a![i]! + REGULARISATION;
    const a12 = b![i]!;
    const a22 = c![i]! + REGULARISATION;
    const det = a11 * a22 - a12 * a12;
    // A level refines what the coarser one found by well under a pixel: a larger step is an
    // ill-posed window's (a flat or one-directional texture), and is cut back.
    flow.u[i]! -= clampStep((a22 * d![i]! - a12 * e![i]!) / det);
    flow.v[i]! -= clampStep((a11 * e![i]! - a12 * d![i]!) / det);
  }
}

/** A flow field at another size, `width`×`height`: resampled bilinearly, its displacements scaled with it. */
export function resizeFlow(flow: Flow, width: number, height: number): Flow {
  const u = new Float32Array(width * height);
  const v = new Float32Array(width * height);
  const sx = flow.width / width;
  const sy = flow.height / height;
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++, i++) {
      const fx = (x + 0.5) * sx - 0.5;
      const fy = (y + 0.5) * sy - 0.5;
      u[i] = sample(flow.u, flow.width, flow.height, fx, fy) / sx;
      v[i] = sample(flow.v, flow.width, flow.height, fx, fy) / sy;
    }
  return { width, height, u, v };
}

/** The dense flow from `first` to `second` (same size): second(p + flow(p)) ≈ first(p). */
export function opticalFlow(first: Grey, second: Grey, options: FlowOptions = {}): Flow {
  if (first.width !== second.width || first.height !== second.height)
    throw new RangeError('the two frames of a flow must have the same size');
  const { iterations, window, minSide } = { ...FLOW_DEFAULTS, ...options };
  const pyramid: [Grey, Grey][] = [[first, second]];
  for (;;) {
    const [a, b] = pyramid.at(-1)!;
    if (Math.min(a.width, a.height) < 2 * minSide) break;
    pyramid.push([halve(a), halve(b)]);
  }
  const k = gaussianKernel(window);
  let flow: Flow | null = null;
  for (let level = pyramid.length - 1; level >= 0; level--) {
    const [a, b] = pyramid[level]!;
    const n = a.width * a.height;
    flow = flow
      ? resizeFlow(flow, a.width, a.height)
      : { width: a.width, height: a.height, u: new Float32Array(n), v: new Float32Array(n) };
    for (let i = 0; i < iterations; i++) refine(a, b, flow, k);
    median3(flow.u, a.width, a.height);
    median3(flow.v, a.width, a.height);
  }
  return flow!;
}

/**
 * An RGB image ([h·w·3] row-major) warped by `flow` of its size: out(p) = image(p + flow(p)),
 * bilinear, borders clamped. With the flow from frame t to frame t − 1 it carries frame t − 1's
 * picture onto frame t.
 */
export function warpImage(image: Float32Array, flow: Flow): Float32Array {
  const { width, height } = flow;
  const out = new Float32Array(width * height * 3);
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++, i++)
      for (let c = 0; c < 3; c++) out[3 * i + c] = sample(image, width, height, x + flow.u[i]!, y + flow.v[i]!, 3, c);
  return out;
}

/**
 * Where the flow `backward` (frame t → t − 1) can be trusted, per pixel of frame t: 1, or 0 where
 * Ruder et al. reject it. Disoccluded: the forward flow (t − 1 → t) at p + b(p) does not bring the
 * point back, |b + f|² > 0.01·(|b|² + |f|²) + 0.5, or p + b(p) lies outside the frame. Motion
 * boundary: |∇b_u|² + |∇b_v|² > 0.01·|b|² + 0.002.
 */
export function consistencyWeights(backward: Flow, forward: Flow): Float32Array {
  const { width, height, u, v } = backward;
  const weights = new Float32Array(width * height);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const [bu, bv] = [u[i]!, v[i]!];
      const [px, py] = [x + bu, y + bv];
      if (px < 0 || py < 0 || px > width - 1 || py > height - 1) continue;
      const fu = sample(forward.u, width, height, px, py);
      const fv = sample(forward.v, width, height, px, py);
      const b2 = bu * bu + bv * bv;
      const disoccluded = (bu + fu) ** 2 + (bv + fv) ** 2 > 0.01 * (b2 + fu * fu + fv * fv) + 0.5;
      const gradient = (f: Float32Array) => {
        const gx = (f[x < width - 1 ? i + 1 : i]! - f[x > 0 ? i - 1 : i]!) / (x > 0 && x < width - 1 ? 2 : 1);
        const gy = (f[y < height - 1 ? i + width : i]! - f[y > 0 ? i - width : i]!) / (y > 0 && y < height - 1 ? 2 : 1);
        return gx * gx + gy * gy;
      };
      const boundary = gradient(u) + gradient(v) > 0.01 * b2 + 0.002;
      weights[i] = disoccluded || boundary ? 0 : 1;
    }
  }
  return weights;
}
