// Per-layer time of VGG19's 3×3 convolutions, direct (ONNX's Conv) against Winograd F(2×2, 3×3)
// and F(4×4, 3×3) (src/engine/graph/winograd.ts), forward (with bias) and backward (the input
// gradient: the flipped kernel, channels swapped), at each layer's grid for an image of the given
// size; ONNX Runtime's CPU provider with the engine's session settings. Random weights and inputs
// (the time does not depend on them); each Winograd output checked against the direct one.
//   node dist/bench/winograd-layers.js [--sizes 256,512] [--threads 2] [--runs 7] [--layers block3_conv2,…] [--out FILE]
import * as fs from 'node:fs';
import { GraphBuilder, ints } from '../src/engine/graph/builder.js';
import { CONV_METHODS, lowerConvolutions, type ConvMethod } from '../src/engine/graph/convolutions.js';
import { flippedKernel } from '../src/engine/graph/rules.js';
import { createSession } from '../src/engine/onnx/session.js';
import { ensureRuntime, ort } from '../src/engine/onnx/runtime.js';
import { layerGrid, VGG19_CONV_SPECS } from '../src/engine/vgg19.js';
import { table } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const sizes = option('--sizes', '256,512').split(',').map(Number);
const threads = Number(option('--threads', '2'));
const runs = Number(option('--runs', '7'));
const only = option('--layers', '');
const out = option('--out', '');

/** Deterministic values in [-1, 1). */
function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/**
 * One convolution as a graph, lowered by `method`: forward, x [1, in, h, w] by the kernel
 * [out, in] with bias; backward, x [1, out, h, w] by its flipped kernel, as the reverse pass
 * writes it (the forward convolution on a 1×1 input beside it, so that the lowering shares the
 * transformed kernel as it does in the evaluation graph).
 */
function convModel(outC: number, inC: number, h: number, w: number, pass: 'forward' | 'backward', method: ConvMethod) {
  const g = new GraphBuilder('conv');
  const kernel = g.floats(random(outC * inC * 9, outC * 31 + inC), [outC, inC, 3, 3]);
  const bias = g.floats(random(outC, 7), [outC]);
  const same = { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) };
  if (pass === 'forward') {
    const y = g.op('Conv', [g.input('x', [1, inC, h, w]), kernel, bias], same);
    lowerConvolutions(g, () => method);
    g.output('y', y, [1, outC, h, w]);
    return g.encode();
  }
  const pixel = g.op('Conv', [g.floats(random(inC, 3), [1, inC, 1, 1]), kernel, bias], same);
  const flipped = g.floats(Float32Array.from(flippedKernel(g.constant(kernel)!.values, [outC, inC, 3, 3])), [
    inC,
    outC,
    3,
    3,
  ]);
  const y = g.op('Conv', [g.input('x', [1, outC, h, w]), flipped], same);
  lowerConvolutions(g, () => method);
  g.output('y', y, [1, inC, h, w]);
  g.output('pixel', pixel, [1, outC, 1, 1]);
  return g.encode();
}

async function time(model: Uint8Array, feeds: Record<string, InstanceType<typeof ort.Tensor>>) {
  const { session } = await createSession(model, { threads, providers: ['cpu'] });
  let y = (await session.run(feeds))['y']!;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    y.dispose();
    const started = performance.now();
    y = (await session.run(feeds))['y']!;
    times.push(performance.now() - started);
  }
  const data = Float32Array.from(y.data as Float32Array);
  y.dispose();
  await session.release();
  return { ms: times.sort((a, b) => a - b)[Math.floor(runs / 2)]!, data };
}

const relative = (a: Float32Array, b: Float32Array) => {
  let [num, den] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
};

await ensureRuntime(threads);
const rows: Record<string, string | number>[] = [];
for (const size of sizes) {
  const [h, w] = [Math.round((size * 3) / 4), size];
  for (const spec of VGG19_CONV_SPECS.slice(0, 13)) {
    if (only && !only.split(',').includes(spec.name)) continue;
    const [, , inC, outC] = spec.shape;
    const [lh, lw] = layerGrid(spec.name, h, w);
    for (const pass of ['forward', 'backward'] as const) {
      if (pass === 'backward' && spec.name === 'block1_conv1') continue; // the image's gradient is 3 channels: see the row above
      const [o, i] = pass === 'forward' ? [outC, inC] : [inC, outC];
      const x = new ort.Tensor('float32', random(i * lh * lw, 11), [1, i, lh, lw]);
      const results = new Map<ConvMethod, { ms: number; data: Float32Array }>();
      for (const method of CONV_METHODS)
        results.set(method, await time(convModel(outC, inC, lh, lw, pass, method), { x }));
      x.dispose();
      const direct = results.get('direct')!;
      const row: Record<string, string | number> = {
        size: `${h}×${w}`,
        layer: spec.name,
        pass,
        grid: `${lh}×${lw}`,
        'in→out': `${i}→${o}`,
        'direct ms': +direct.ms.toFixed(2),
      };
      for (const m of ['winograd2', 'winograd4'] as const) {
        const r = results.get(m)!;
        row[`${m} ×`] = +(r.ms / direct.ms).toFixed(2);
        row[`${m} error`] = relative(r.data, direct.data).toExponential(1);
      }
      rows.push(row);
      console.error(JSON.stringify(row));
    }
  }
}
const header = Object.keys(rows[0] ?? {});
console.log(
  table(
    header,
    rows.map((r) => header.map((k) => String(r[k]))),
  ),
);
if (out) fs.writeFileSync(out, JSON.stringify({ threads, runs, rows }, null, 2) + '\n');
