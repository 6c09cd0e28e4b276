/**
 * An independent float64 reference of NST's objective and its gradient, in plain loops over
 * HWC arrays, written from the definitions: Keras' VGG preprocessing, VGG19's 3×3 'same' conv +
 * ReLU layers and 2×2 poolings, Gram matrices, the style, content and total-variation costs; and
 * a tiled evaluation's per-tile weighted sums and gradient (TileKernel).
 * Slow (no blocking, no SIMD): for tiny images and shallow layers only.
 */
import { VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import type { ConvWeights } from '../../src/io/weights.js';

/** A feature map [h][w][c] in float64. */
export interface Map64 {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

export type Pool = 'avg' | 'max';

export interface Setup {
  /** The style loss: each style layer's statistics (the Gram matrix by default) and cost with dF. */
  styleLoss64?: StyleLoss64;
  styleLayers: readonly string[];
  contentLayers: readonly string[];
  /** Normalised to sum 1. */
  styleLayerWeights: readonly number[];
  pooling: Pool;
  weights: ReadonlyMap<string, ConvWeights>;
}

export interface StyleLoss64 {
  statistics(f: Map64): Float64Array;
  layer(f: Map64, target: Float64Array): { cost: number; dF: Float64Array };
}

export interface Targets64 {
  grams: Float64Array[];
  contents: Float64Array[];
}

export interface Reference {
  content: number;
  style: number;
  variation: number;
  /** d/dimage of each cost, [h][w][3]. */
  dContent: Float64Array;
  dStyle: Float64Array;
  dVariation: Float64Array;
}

const MEANS_BGR = [103.939, 116.779, 123.68];

/** The VGG19 layer names in order, with block{b}_pool after each block, up to the deepest of `used`. */
export function layerNames(used: readonly string[]): string[] {
  const names: string[] = [];
  VGG19_CONV_SPECS.forEach((spec, i) => {
    names.push(spec.name);
    const block = spec.name.split('_')[0];
    if (VGG19_CONV_SPECS[i + 1]?.name.split('_')[0] !== block) names.push(`${block}_pool`);
  });
  return names.slice(0, Math.max(...used.map((n) => names.indexOf(n))) + 1);
}

function preprocess(image: Float64Array, h: number, w: number): Map64 {
  const data = new Float64Array(h * w * 3);
  for (let p = 0; p < h * w; p++)
    for (let c = 0; c < 3; c++) data[p * 3 + c] = 255 * image[p * 3 + 2 - c]! - MEANS_BGR[c]!;
  return { h, w, c: 3, data };
}

/** z = x ∗ K + b, 'same' padding, K in HWIO. */
function conv(x: Map64, k: ConvWeights): Map64 {
  const { h, w, c: cin } = x;
  const cout = k.kernelShape[3];
  const out = new Float64Array(h * w * cout);
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < w; xx++) {
      const o0 = (y * w + xx) * cout;
      for (let o = 0; o < cout; o++) out[o0 + o] = k.bias[o]!;
      for (let ky = 0; ky < 3; ky++) {
        const yy = y + ky - 1;
        if (yy < 0 || yy >= h) continue;
        for (let kx = 0; kx < 3; kx++) {
          const xs = xx + kx - 1;
          if (xs < 0 || xs >= w) continue;
          for (let i = 0; i < cin; i++) {
            const v = x.data[(yy * w + xs) * cin + i]!;
            const base = ((ky * 3 + kx) * cin + i) * cout;
            for (let o = 0; o < cout; o++) out[o0 + o] += v * k.kernel[base + o]!;
          }
        }
      }
    }
  }
  return { h, w, c: cout, data: out };
}

/** The transpose of `conv` (without the bias): dx from dz. */
function convBack(dz: Map64, k: ConvWeights, cin: number): Map64 {
  const { h, w, c: cout } = dz;
  const dx = new Float64Array(h * w * cin);
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < w; xx++) {
      const o0 = (y * w + xx) * cout;
      for (let ky = 0; ky < 3; ky++) {
        const yy = y + ky - 1;
        if (yy < 0 || yy >= h) continue;
        for (let kx = 0; kx < 3; kx++) {
          const xs = xx + kx - 1;
          if (xs < 0 || xs >= w) continue;
          for (let i = 0; i < cin; i++) {
            const base = ((ky * 3 + kx) * cin + i) * cout;
            let s = 0;
            for (let o = 0; o < cout; o++) s += dz.data[o0 + o]! * k.kernel[base + o]!;
            dx[(yy * w + xs) * cin + i] += s;
          }
        }
      }
    }
  }
  return { h, w, c: cin, data: dx };
}

/** 2×2 stride-2 'valid' pooling; for max, the argmax (first maximum, row-major) of each output. */
function pool(x: Map64, kind: Pool): { y: Map64; argmax: Int32Array } {
  const { w, c } = x;
  const [ph, pw] = [Math.floor(x.h / 2), Math.floor(x.w / 2)];
  const y = new Float64Array(ph * pw * c);
  const argmax = new Int32Array(ph * pw * c);
  for (let py = 0; py < ph; py++) {
    for (let px = 0; px < pw; px++) {
      for (let ch = 0; ch < c; ch++) {
        const at = [0, 1, 2, 3].map((k) => ((2 * py + (k >> 1)) * w + 2 * px + (k & 1)) * c + ch);
        const o = (py * pw + px) * c + ch;
        if (kind === 'avg') {
          y[o] = at.reduce((s, i) => s + x.data[i]!, 0) / 4;
        } else {
          let best = at[0]!;
          for (const i of at) if (x.data[i]! > x.data[best]!) best = i;
          y[o] = x.data[best]!;
          argmax[o] = best;
        }
      }
    }
  }
  return { y: { h: ph, w: pw, c, data: y }, argmax };
}

function poolBack(dy: Map64, x: Map64, kind: Pool, argmax: Int32Array): Map64 {
  const dx = new Float64Array(x.data.length);
  const { w: pw, c } = dy;
  for (let py = 0; py < dy.h; py++) {
    for (let px = 0; px < pw; px++) {
      for (let ch = 0; ch < c; ch++) {
        const o = (py * pw + px) * c + ch;
        if (kind === 'max') {
          dx[argmax[o]!] += dy.data[o]!;
          continue;
        }
        for (let k = 0; k < 4; k++) dx[((2 * py + (k >> 1)) * x.w + 2 * px + (k & 1)) * c + ch] += dy.data[o]! / 4;
      }
    }
  }
  return { ...x, data: dx };
}

interface Trace {
  /** Each layer's input and output, and the max pooling's argmax. */
  steps: { name: string; x: Map64; y: Map64; argmax?: Int32Array }[];
  outputs: Map<string, Map64>;
}

function forward(image: Float64Array, h: number, w: number, setup: Setup): Trace {
  const steps: Trace['steps'] = [];
  const outputs = new Map<string, Map64>();
  let x = preprocess(image, h, w);
  for (const name of layerNames([...setup.styleLayers, ...setup.contentLayers])) {
    if (name.endsWith('_pool')) {
      const { y, argmax } = pool(x, setup.pooling);
      steps.push({ name, x, y, argmax });
      x = y;
    } else {
      const z = conv(x, setup.weights.get(name)!);
      const y = { ...z, data: z.data.map((v) => Math.max(0, v)) };
      steps.push({ name, x, y });
      outputs.set(name, y);
      x = y;
    }
  }
  return { steps, outputs };
}

/** G = FᵀF / (h·w), c × c. */
export function gram64(f: Map64): Float64Array {
  const { c } = f;
  const n = f.h * f.w;
  const g = new Float64Array(c * c);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < c; i++) {
      const a = f.data[p * c + i]!;
      if (a !== 0) for (let j = 0; j < c; j++) g[i * c + j] += a * f.data[p * c + j]!;
    }
  }
  return g.map((v) => v / n);
}

/** The Gram matrices at the style layers and the activations at the content layers. */
export function features64(image: Float64Array, h: number, w: number, setup: Setup): Targets64 {
  const { outputs } = forward(image, h, w, setup);
  return {
    grams: setup.styleLayers.map((l) => (setup.styleLoss64?.statistics ?? gram64)(outputs.get(l)!)),
    contents: setup.contentLayers.map((l) => outputs.get(l)!.data),
  };
}

/** mean((G − A)²) and d/dF = F (dG + dGᵀ)/(h·w), dG = 2(G − A)/c². */
function styleLayer(f: Map64, target: Float64Array): { cost: number; dF: Float64Array } {
  const { c } = f;
  const n = f.h * f.w;
  const g = gram64(f);
  const dG = g.map((v, k) => (2 * (v - target[k]!)) / (c * c));
  const cost = g.reduce((s, v, k) => s + (v - target[k]!) ** 2, 0) / (c * c);
  const dF = new Float64Array(n * c);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < c; i++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += f.data[p * c + j]! * (dG[i * c + j]! + dG[j * c + i]!);
      dF[p * c + i] = s / n;
    }
  }
  return { cost, dF };
}

/**
 * tf.image.total_variation and its gradient (sign(0) = 0); with a weight map m [h·w], each pair
 * of neighbours weighted by its first pixel's m.
 */
export function totalVariation64(
  x: Float64Array,
  h: number,
  w: number,
  m?: Float64Array,
): { cost: number; dX: Float64Array } {
  let cost = 0;
  const dX = new Float64Array(x.length);
  const pairs: [number, number][] = [];
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < w; xx++) {
      if (y + 1 < h) pairs.push([(y * w + xx) * 3, ((y + 1) * w + xx) * 3]);
      if (xx + 1 < w) pairs.push([(y * w + xx) * 3, (y * w + xx + 1) * 3]);
    }
  }
  for (const [a, b] of pairs) {
    const weight = m ? m[a / 3]! : 1;
    for (let c = 0; c < 3; c++) {
      const d = x[b + c]! - x[a + c]!;
      cost += weight * Math.abs(d);
      dX[b + c] += weight * Math.sign(d);
      dX[a + c] -= weight * Math.sign(d);
    }
  }
  return { cost, dX };
}

/** The gradient w.r.t. the image of costs whose gradients w.r.t. layer outputs are `direct`. */
function backward(trace: Trace, direct: Map<string, Float64Array>, setup: Setup): Float64Array {
  let dy: Float64Array | null = null;
  for (let i = trace.steps.length - 1; i >= 0; i--) {
    const { name, x, y, argmax } = trace.steps[i]!;
    const own = direct.get(name);
    const total: Float64Array = dy ?? new Float64Array(y.data.length);
    if (own) own.forEach((v, k) => (total[k] += v));
    if (name.endsWith('_pool')) {
      dy = poolBack({ ...y, data: total }, x, setup.pooling, argmax!).data;
    } else {
      const masked = total.map((v, k) => (y.data[k]! > 0 ? v : 0));
      dy = convBack({ ...y, data: masked }, setup.weights.get(name)!, x.c).data;
    }
  }
  // Through the preprocessing: ×255, BGR back to RGB.
  const out = new Float64Array(dy!.length);
  for (let p = 0; p < out.length / 3; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = 255 * dy![p * 3 + 2 - c]!;
  return out;
}

/** The three costs and their gradients for `image` (HWC in [0, 1]). */
export function reference64(image: Float64Array, h: number, w: number, setup: Setup, targets: Targets64): Reference {
  const trace = forward(image, h, w, setup);
  const styleDirect = new Map<string, Float64Array>();
  let style = 0;
  setup.styleLayers.forEach((layer, i) => {
    const { cost, dF } = (setup.styleLoss64?.layer ?? styleLayer)(trace.outputs.get(layer)!, targets.grams[i]!);
    style += setup.styleLayerWeights[i]! * cost;
    styleDirect.set(
      layer,
      dF.map((v) => v * setup.styleLayerWeights[i]!),
    );
  });
  const contentDirect = new Map<string, Float64Array>();
  let content = 0;
  const nc = setup.contentLayers.length;
  setup.contentLayers.forEach((layer, i) => {
    const f = trace.outputs.get(layer)!.data;
    const p = targets.contents[i]!;
    content += f.reduce((s, v, k) => s + (v - p[k]!) ** 2, 0) / f.length / nc;
    contentDirect.set(
      layer,
      f.map((v, k) => (2 * (v - p[k]!)) / f.length / nc),
    );
  });
  const tv = totalVariation64(image, h, w);
  return {
    content,
    style,
    variation: tv.cost,
    dContent: backward(trace, contentDirect, setup),
    dStyle: backward(trace, styleDirect, setup),
    dVariation: tv.dX,
  };
}

/** J = α·J_content + β·J_style + var·J_var of a reference. */
export function totalCost(
  r: Pick<Reference, 'content' | 'style' | 'variation'>,
  alpha: number,
  beta: number,
  variation: number,
): number {
  return alpha * r.content + beta * r.style + variation * r.variation;
}

export function totalGradient(r: Reference, alpha: number, beta: number, variation: number): Float64Array {
  return r.dContent.map((v, k) => alpha * v + beta * r.dStyle[k]! + variation * r.dVariation[k]!);
}

// ---------------------------------------------------------------------------------------------
// A tiled evaluation's per-tile sums and gradient (TileKernel)

/** A tile's weight maps: [h][w] at the pixels, [h_l][w_l] one per style and one per content layer. */
export interface TileWeights64 {
  image: Float64Array;
  style: readonly Float64Array[];
  content: readonly Float64Array[];
}

/** Σₚ m(p)·Fₚ Fₚᵀ, c × c (not divided by the positions). */
export function weightedGram64(f: Map64, m: Float64Array): Float64Array {
  const { c } = f;
  const g = new Float64Array(c * c);
  for (let p = 0; p < f.h * f.w; p++) {
    for (let i = 0; i < c; i++) {
      const a = m[p]! * f.data[p * c + i]!;
      if (a !== 0) for (let j = 0; j < c; j++) g[i * c + j] += a * f.data[p * c + j]!;
    }
  }
  return g;
}

/** Σₚ m(p)·|Fₚ − Pₚ|². */
function weightedSquares64(f: Map64, target: Float64Array, m: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < f.data.length; k++) sum += m[Math.floor(k / f.c)]! * (f.data[k]! - target[k]!) ** 2;
  return sum;
}

/**
 * Pass 1 on a tile: the weighted Gram sums, the weighted content sums (when targets are given),
 * the weighted variational cost, the content features.
 */
export function tileSums64(
  image: Float64Array,
  h: number,
  w: number,
  setup: Setup,
  weights: TileWeights64,
  targets: readonly Float64Array[] | null,
): { grams: Float64Array[]; content: number[]; variation: number; features: Float64Array[] } {
  const { outputs } = forward(image, h, w, setup);
  const contentOf = (layer: string) => outputs.get(layer)!;
  return {
    grams: setup.styleLayers.map((l, i) => weightedGram64(outputs.get(l)!, weights.style[i]!)),
    content: setup.contentLayers.map((l, k) =>
      targets ? weightedSquares64(contentOf(l), targets[k]!, weights.content[k]!) : 0,
    ),
    variation: totalVariation64(image, h, w, weights.image).cost,
    features: setup.contentLayers.map((l) => contentOf(l).data),
  };
}

/**
 * Pass 2 on a tile: the gradients w.r.t. the tile of its style part Σ_l ⟨K_l, Σₚ m(p)·Fₚ Fₚᵀ⟩,
 * from dF = (K + Kᵀ) F diag(m), of its content part Σ_k γ_k·Σₚ m(p)·|Fₚ − Pₚ|², from
 * dF = 2γ·m·(F − P), and of its weighted variational cost (ν = 1); each [h][w][3].
 */
export function tileGradients64(
  image: Float64Array,
  h: number,
  w: number,
  setup: Setup,
  weights: TileWeights64,
  gramGradients: readonly Float64Array[],
  targets: readonly Float64Array[],
  contentWeights: readonly number[],
): { style: Float64Array; content: Float64Array; variation: Float64Array } {
  const trace = forward(image, h, w, setup);
  const styleDirect = new Map<string, Float64Array>();
  setup.styleLayers.forEach((layer, i) => {
    const f = trace.outputs.get(layer)!;
    const { c } = f;
    const [K, m] = [gramGradients[i]!, weights.style[i]!];
    const dF = new Float64Array(f.data.length);
    for (let p = 0; p < f.h * f.w; p++) {
      for (let a = 0; a < c; a++) {
        let s = 0;
        for (let b = 0; b < c; b++) s += (K[a * c + b]! + K[b * c + a]!) * f.data[p * c + b]!;
        dF[p * c + a] = s * m[p]!;
      }
    }
    styleDirect.set(layer, dF);
  });
  const contentDirect = new Map<string, Float64Array>();
  setup.contentLayers.forEach((layer, k) => {
    const f = trace.outputs.get(layer)!;
    const [P, m] = [targets[k]!, weights.content[k]!];
    contentDirect.set(
      layer,
      f.data.map((v, i) => 2 * contentWeights[k]! * m[Math.floor(i / f.c)]! * (v - P[i]!)),
    );
  });
  return {
    style: backward(trace, styleDirect, setup),
    content: backward(trace, contentDirect, setup),
    variation: totalVariation64(image, h, w, weights.image).dX,
  };
}
