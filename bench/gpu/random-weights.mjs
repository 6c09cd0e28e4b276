// Writes random VGG19 weights of the right shapes in the Keras HDF5 layout that nst reads
// (../shared/weights/README.md): for timing the whole command on a machine without the real file
// (the GPU machine: nothing can be downloaded there). Times do not depend on the values; He-scaled
// kernels keep the activations of the usual size.
//   node bench/gpu/random-weights.mjs OUT.h5
import * as fs from 'node:fs';

const out = process.argv[2];
if (!out) throw new Error('usage: node bench/gpu/random-weights.mjs OUT.h5');
const dist = fs.existsSync(new URL('../../dist/src', import.meta.url)) ? '../../dist/src' : './dist/src';
const { VGG19_LAYERS } = await import(`${dist}/engine/vgg19.js`);
const { default: h5wasm } = await import('h5wasm/node');
await h5wasm.ready;

let seed = 12345;
/** Uniform in [-scale, scale). */
const random = (n, scale) =>
  Float32Array.from(
    { length: n },
    () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1) * scale,
  );

const file = new h5wasm.File(out, 'w');
file.create_attribute('layer_names', ['input_1', ...VGG19_LAYERS.map((l) => l.name)]);
file.create_group('input_1');
for (const layer of VGG19_LAYERS) {
  const group = file.create_group(layer.name);
  if (layer.kind !== 'conv') continue;
  const [kh, kw, cin, cout] = layer.spec.shape;
  const names = [`${layer.name}_W_1:0`, `${layer.name}_b_1:0`];
  group.create_attribute('weight_names', names);
  const kernel = random(kh * kw * cin * cout, Math.sqrt(6 / (kh * kw * cin)));
  group.create_dataset({ name: names[0], data: kernel, shape: [kh, kw, cin, cout], dtype: '<f' });
  group.create_dataset({ name: names[1], data: random(cout, 0.01), shape: [cout], dtype: '<f' });
}
file.close();
console.log(`wrote ${out}`);
