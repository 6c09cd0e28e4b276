import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Jimp } from 'jimp';
import { InputError } from '../src/errors.js';
import {
  IMAGE_EXTENSIONS,
  checkOutputPath,
  readImage,
  resizeBicubic,
  scaleImage,
  scaledSize,
  vggPreprocess,
  writeImage,
} from '../src/preprocess.js';

let tmp = '';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'nst-preprocess-'));
});

after(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** Deterministic pseudo-random numbers in [0, 1) (a small LCG), so failures are reproducible. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomImage(h: number, w: number, c: number, seed: number): Float64Array {
  const next = random(seed);
  return Float64Array.from({ length: h * w * c }, () => next() * 255);
}

/** Keys' cubic kernel, a = -0.5, written out piecewise. */
function cubic(x: number): number {
  const t = Math.abs(x);
  if (t <= 1) return 1.5 * t ** 3 - 2.5 * t ** 2 + 1;
  if (t < 2) return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2;
  return 0;
}

/**
 * Straightforward float64 reference of TF's bicubic resize (half-pixel centres): for each output
 * pixel, a direct sum over the 4x4 source taps that lie inside the image, divided by the sum of
 * their weights. Like TF, the fractional source position is rounded to a multiple of 1/1024.
 */
function referenceResize(src: Float64Array, h: number, w: number, c: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow * c);
  const sample = (i: number, inSize: number, outSize: number) => {
    const pos = ((i + 0.5) * inSize) / outSize - 0.5;
    const base = Math.floor(pos);
    const frac = Math.round((pos - base) * 1024) / 1024;
    return { base, frac };
  };
  for (let oy = 0; oy < oh; oy++) {
    const y = sample(oy, h, oh);
    for (let ox = 0; ox < ow; ox++) {
      const x = sample(ox, w, ow);
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        let weightSum = 0;
        for (let dy = -1; dy <= 2; dy++) {
          for (let dx = -1; dx <= 2; dx++) {
            const sy = y.base + dy;
            const sx = x.base + dx;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const weight = cubic(dy - y.frac) * cubic(dx - x.frac);
            sum += weight * src[(sy * w + sx) * c + ch];
            weightSum += weight;
          }
        }
        out[(oy * ow + ox) * c + ch] = sum / weightSum;
      }
    }
  }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= tol, `${what}: max abs error ${worst} > ${tol}`);
}

describe('resizeBicubic', () => {
  const cases: Array<[string, number, number, number, number, number]> = [
    // name, h, w, c, outH, outW
    ['downscale 37x23 -> 16x11', 37, 23, 3, 16, 11],
    ['upscale 7x5 -> 20x13', 7, 5, 3, 20, 13],
    ['mixed 9x30 -> 14x8, 2 channels', 9, 30, 2, 14, 8],
    ['same size 6x9', 6, 9, 3, 6, 9],
  ];
  for (const [name, h, w, c, oh, ow] of cases) {
    it(`matches the float64 reference: ${name}`, () => {
      const src = randomImage(h, w, c, h * 1000 + w);
      const expected = referenceResize(src, h, w, c, oh, ow);
      const input = tf.tensor4d(Float32Array.from(src), [1, h, w, c]);
      const out = resizeBicubic(input, oh, ow);
      assert.deepEqual(out.shape, [1, oh, ow, c]);
      assertClose(out.dataSync(), expected, 255 * 1e-5, name);
      tf.dispose([input, out]);
    });
  }

  it('same size is the identity, exactly', () => {
    const src = Float32Array.from(randomImage(5, 4, 3, 7));
    const input = tf.tensor3d(src, [5, 4, 3]);
    const out = resizeBicubic(input, 5, 4);
    input.dispose(); // the result must not share the caller's tensor
    assert.deepEqual(out.shape, [5, 4, 3]);
    assert.deepEqual(out.dataSync(), src);
    out.dispose();
  });

  it('hand-checked: 1-D upscale of [0, 1] to 4 pixels (rank 3 stays rank 3)', () => {
    // Source positions (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25. Keys weights (a = -0.5):
    // W(0.25) = 0.8671875, W(0.75) = 0.2265625, W(1.25) = -0.0703125; taps outside are dropped.
    // out0 = (0 * W(0.25) + 1 * W(1.25)) / (W(0.25) + W(1.25)) = -0.0703125 / 0.796875 = -3/34
    // out1 = (0 * W(0.25) + 1 * W(0.75)) / (W(0.25) + W(0.75)) = 0.2265625 / 1.09375 = 29/140
    // out2 and out3 by symmetry: 1 - 29/140 = 111/140 and 1 + 3/34 = 37/34.
    const input = tf.tensor3d([0, 1], [1, 2, 1]);
    const out = resizeBicubic(input, 1, 4);
    assert.deepEqual(out.shape, [1, 4, 1]);
    assertClose(out.dataSync(), [-3 / 34, 29 / 140, 111 / 140, 37 / 34], 1e-6, 'upscale [0, 1]');
    tf.dispose([input, out]);
  });

  it('hand-checked: 4 -> 2 downscale along the height', () => {
    // Source positions (i + 0.5) * 2 - 0.5 = 0.5 and 2.5: weights W(1.5), W(0.5), W(0.5), W(1.5)
    // = -0.0625, 0.5625, 0.5625, -0.0625 on taps floor - 1 .. floor + 2; one tap falls outside
    // each time, so the rest is divided by 1.0625: out0 = (9 v0 + 9 v1 - v2) / 17 and
    // out1 = (-v1 + 9 v2 + 9 v3) / 17. With v = [1, 2, 4, 8]: 23/17 and 106/17.
    const input = tf.tensor4d([1, 2, 4, 8], [1, 4, 1, 1]);
    const out = resizeBicubic(input, 2, 1);
    assertClose(out.dataSync(), [23 / 17, 106 / 17], 1e-5, 'downscale');
    tf.dispose([input, out]);
  });

  it('rejects bad sizes and leaks no tensors', () => {
    const input = tf.zeros([3, 3, 3]) as tf.Tensor3D;
    assert.throws(() => resizeBicubic(input, 0, 3));
    assert.throws(() => resizeBicubic(input, 2.5, 3));
    const before = tf.memory().numTensors;
    resizeBicubic(input, 5, 2).dispose();
    const input4 = tf.expandDims(input, 0) as tf.Tensor4D;
    resizeBicubic(input4, 2, 5).dispose();
    assert.equal(tf.memory().numTensors, before + 1);
    tf.dispose([input, input4]);
  });
});

describe('scaledSize and scaleImage', () => {
  it('scaledSize makes the larger side maxSide', () => {
    assert.deepEqual(scaledSize(768, 1024, 512), [384, 512]);
    assert.deepEqual(scaledSize(800, 600, 512), [512, 384]);
    assert.deepEqual(scaledSize(100, 100, 64), [64, 64]);
    assert.deepEqual(scaledSize(1000, 3, 100), [100, 1]); // 0.3 rounds to 0, kept at 1
    assert.deepEqual(scaledSize(100, 50, 201), [201, 101]); // 100.5 rounds up
  });

  it('resizes to the larger side, values in [0, 1]', () => {
    for (const [h, w, expected] of [
      [768, 1024, [1, 384, 512, 3]],
      [600, 800, [1, 384, 512, 3]],
      [800, 600, [1, 512, 384, 3]],
    ] as const) {
      const raw = tf.randomUniform([h, w, 3], 0, 255, 'float32', 1) as tf.Tensor3D;
      const before = tf.memory().numTensors;
      const scaled = scaleImage(raw);
      assert.equal(tf.memory().numTensors, before + 1, 'only the result stays');
      assert.deepEqual(scaled.shape, expected);
      const [min, max] = [scaled.min().dataSync()[0], scaled.max().dataSync()[0]];
      assert.ok(min >= 0 && max <= 1, `values in [0, 1], got ${min}..${max}`);
      assert.ok(max > 0.9 && min < 0.1, 'values are not squashed');
      tf.dispose([raw, scaled]);
    }
  });

  it('a constant 255 image becomes all 1', () => {
    const raw = tf.fill([300, 200, 3], 255) as tf.Tensor3D;
    const scaled = scaleImage(raw, 128);
    assert.deepEqual(scaled.shape, [1, 128, 85, 3]);
    assertClose(scaled.dataSync(), new Float32Array(128 * 85 * 3).fill(1), 1e-6, 'constant');
    tf.dispose([raw, scaled]);
  });

  it('is the bicubic resize divided by 255 and clipped', () => {
    const src = randomImage(10, 7, 3, 3);
    const raw = tf.tensor3d(Float32Array.from(src), [10, 7, 3]);
    const scaled = scaleImage(raw, 6);
    const expected = referenceResize(src, 10, 7, 3, 6, 4).map((v) => Math.min(1, Math.max(0, v / 255)));
    assertClose(scaled.dataSync(), expected, 1e-5, 'scaleImage');
    tf.dispose([raw, scaled]);
  });
});

describe('vggPreprocess', () => {
  it('matches a hand computation: x * 255, RGB -> BGR, minus the ImageNet means', () => {
    // RGB (0.2, 0.4, 0.6) * 255 = (51, 102, 153) -> BGR (153, 102, 51)
    // minus (103.939, 116.779, 123.68) = (49.061, -14.779, -72.68)
    const x = tf.tensor4d([0.2, 0.4, 0.6, 1, 0, 0], [1, 1, 2, 3]);
    const y = vggPreprocess(x);
    assert.deepEqual(y.shape, [1, 1, 2, 3]);
    assertClose(y.dataSync(), [49.061, -14.779, -72.68, -103.939, -116.779, 131.32], 1e-4, 'vgg');
    tf.dispose([x, y]);
  });

  it('is differentiable (d sum / dx = 255 everywhere)', () => {
    const x = tf.tensor4d([0.1, 0.5, 0.9, 0.3, 0.2, 0.7], [1, 2, 1, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(vggPreprocess(t as tf.Tensor4D)))(x);
    assertClose(g.dataSync(), new Array(6).fill(255), 1e-4, 'gradient');
    tf.dispose([x, g]);
  });
});

/**
 * A jimp image from RGBA bytes. The bytes are copied into a fresh Uint8Array because
 * Jimp.fromBitmap copies `data.buffer` whole, which for a small Buffer is Node's shared pool.
 */
function jimpImage(rgba: ArrayLike<number>, width: number, height: number) {
  return Jimp.fromBitmap({ data: Uint8Array.from(rgba), width, height });
}

/** A small RGBA bitmap with random channel values, alpha 255. */
function testBitmap(w: number, h: number, seed: number): Buffer {
  const next = random(seed);
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : Math.floor(next() * 256);
  return data;
}

/** The RGB part of an RGBA bitmap as numbers. */
function rgbOf(rgba: Buffer): number[] {
  return [...rgba].filter((_, i) => i % 4 !== 3);
}

describe('readImage and writeImage', () => {
  it('IMAGE_EXTENSIONS lists the writable formats', () => {
    assert.deepEqual([...IMAGE_EXTENSIONS].sort(), ['bmp', 'jpeg', 'jpg', 'png', 'tif', 'tiff']);
  });

  it('reads a PNG exactly as [h, w, 3] 0..255', async () => {
    const data = testBitmap(5, 3, 11);
    const file = path.join(tmp, 'in.png');
    await fs.promises.writeFile(file, await jimpImage(data, 5, 3).getBuffer('image/png'));
    const image = await readImage(file);
    assert.equal(image.dtype, 'float32');
    assert.deepEqual(image.shape, [3, 5, 3]);
    assert.deepEqual([...image.dataSync()], rgbOf(data));
    image.dispose();
  });

  for (const ext of ['png', 'bmp', 'tif']) {
    it(`writes and reads back ${ext} exactly, leaving no temporary file`, async () => {
      const dir = await fs.promises.mkdtemp(path.join(tmp, `${ext}-`));
      const bytes = rgbOf(testBitmap(6, 4, 5));
      const image = tf.tensor4d(bytes.map((v) => v / 255), [1, 4, 6, 3]);
      const file = path.join(dir, `out.${ext}`);
      await writeImage(file, image);
      assert.deepEqual(await fs.promises.readdir(dir), [`out.${ext}`]);
      const back = await readImage(file);
      assert.deepEqual([...back.dataSync()], bytes);
      tf.dispose([image, back]);
    });
  }

  it('writes JPEG approximately (a smooth image)', async () => {
    const h = 16;
    const w = 24;
    const values = Array.from({ length: h * w * 3 }, (_, i) => {
      const [y, x, c] = [Math.floor(i / (w * 3)), Math.floor(i / 3) % w, i % 3];
      return (x / w + y / h + c) / 4;
    });
    const image = tf.tensor3d(values, [h, w, 3]);
    const file = path.join(tmp, 'smooth.jpg');
    await writeImage(file, image);
    const back = await readImage(file);
    assert.deepEqual(back.shape, [h, w, 3]);
    const diff = Array.from(back.dataSync()).reduce((s, v, i) => s + Math.abs(v - values[i] * 255), 0) / values.length;
    assert.ok(diff < 2, `mean abs error ${diff}`);
    tf.dispose([image, back]);
  });

  it('rounds x * 255 and clips', async () => {
    const image = tf.tensor3d([-0.2, 1.5, 0.25, 0.1, 0.8, 1], [1, 2, 3]);
    const file = path.join(tmp, 'clip.png');
    await writeImage(file, image);
    const back = await readImage(file);
    assert.deepEqual([...back.dataSync()], [0, 255, 64, 26, 204, 255]);
    tf.dispose([image, back]);
  });

  it('replaces an existing file; a failed write leaves it and no temporary file', async () => {
    const dir = await fs.promises.mkdtemp(path.join(tmp, 'replace-'));
    const file = path.join(dir, 'out.png');
    await fs.promises.writeFile(file, 'old');
    const image = tf.ones([2, 2, 3]) as tf.Tensor3D;
    await writeImage(file, image);
    const back = await readImage(file);
    assert.deepEqual([...back.dataSync()], new Array(12).fill(255));
    back.dispose();
    // A directory where the file should go makes the rename fail.
    const blocked = path.join(dir, 'blocked.png');
    await fs.promises.mkdir(blocked);
    await assert.rejects(writeImage(blocked, image), /blocked\.png/);
    assert.deepEqual((await fs.promises.readdir(dir)).sort(), ['blocked.png', 'out.png']);
    await assert.rejects(writeImage(path.join(dir, 'out.gif'), image), InputError);
    image.dispose();
  });

  it('reads the real tubingen.jpg as [768, 1024, 3]', async () => {
    const image = await readImage(path.resolve(process.cwd(), '../shared/images/tubingen.jpg'), 'content image');
    assert.deepEqual(image.shape, [768, 1024, 3]);
    const [min, max] = [image.min().dataSync()[0], image.max().dataSync()[0]];
    assert.ok(min >= 0 && max <= 255 && max > min);
    image.dispose();
  });

  /** Asserts that readImage fails with an InputError naming the file and the label. */
  async function assertUnreadable(file: string, reason: RegExp): Promise<void> {
    await assert.rejects(readImage(file, 'style image'), (err: unknown) => {
      assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
      assert.ok(err.message.startsWith(`style image ${file}: `), err.message);
      assert.match(err.message, reason);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    });
  }

  it('errors: missing, not an image, empty, truncated', async () => {
    await assertUnreadable(path.join(tmp, 'missing.jpg'), /not found/);
    const text = path.join(tmp, 'text.jpg');
    await fs.promises.writeFile(text, 'this is not a JPEG\n');
    await assertUnreadable(text, /not a readable image/);
    const empty = path.join(tmp, 'empty.png');
    await fs.promises.writeFile(empty, '');
    await assertUnreadable(empty, /empty/);
    const png = await jimpImage(testBitmap(20, 20, 2), 20, 20).getBuffer('image/png');
    const truncated = path.join(tmp, 'truncated.png');
    await fs.promises.writeFile(truncated, png.subarray(0, png.length >> 1));
    await assertUnreadable(truncated, /not a readable image/);
    await assertUnreadable(tmp, /cannot read/); // a directory
  });

  it('composites transparent pixels over white', async () => {
    // Pixels: opaque, fully transparent, half transparent (alpha 128).
    const data = Buffer.from([10, 20, 30, 255, 10, 20, 30, 0, 200, 0, 100, 128]);
    const file = path.join(tmp, 'alpha.png');
    await fs.promises.writeFile(file, await jimpImage(data, 3, 1).getBuffer('image/png'));
    const image = await readImage(file);
    const a = 128 / 255;
    const expected = [10, 20, 30, 255, 255, 255, ...[200, 0, 100].map((v) => v * a + 255 * (1 - a))];
    assertClose(image.dataSync(), expected, 1e-3, 'alpha');
    image.dispose();
  });

  it('reads a grayscale PNG as 3 equal channels', async () => {
    const data = Buffer.from([0, 0, 0, 255, 90, 90, 90, 255, 255, 255, 255, 255]);
    // colorType 0: pngjs stores 1 gray channel without alpha
    const png = await jimpImage(data, 3, 1).getBuffer('image/png', { colorType: 0 });
    assert.equal(png[25], 0, 'IHDR colour type is grayscale');
    const file = path.join(tmp, 'gray.png');
    await fs.promises.writeFile(file, png);
    const image = await readImage(file);
    assert.deepEqual(image.shape, [1, 3, 3]);
    assert.deepEqual([...image.dataSync()], [0, 0, 0, 90, 90, 90, 255, 255, 255]);
    image.dispose();
  });
});

describe('checkOutputPath', () => {
  it('accepts a writable path with a known extension', () => {
    for (const ext of IMAGE_EXTENSIONS) checkOutputPath(path.join(tmp, `ok.${ext}`));
    checkOutputPath(path.join(tmp, 'UPPER.PNG'));
  });

  it('rejects unknown extensions, listing the known ones', () => {
    for (const name of ['out.gif', 'out', 'out.png.txt']) {
      assert.throws(
        () => checkOutputPath(path.join(tmp, name)),
        (err: unknown) => err instanceof InputError && err.message.includes(name) && /\.png, \.jpg/.test(err.message),
      );
    }
  });

  it('rejects a missing directory, a file as directory, and a directory as the file', async () => {
    assert.throws(() => checkOutputPath(path.join(tmp, 'no-such-dir', 'out.png')), /does not exist/);
    const file = path.join(tmp, 'plain.txt');
    await fs.promises.writeFile(file, 'x');
    assert.throws(() => checkOutputPath(path.join(file, 'out.png')), InputError);
    const dir = path.join(tmp, 'dir.png');
    await fs.promises.mkdir(dir, { recursive: true });
    assert.throws(() => checkOutputPath(dir), InputError);
  });

  it('rejects a directory that is not writable', { skip: process.getuid?.() === 0 && 'root may write anywhere' }, async () => {
    const dir = await fs.promises.mkdtemp(path.join(tmp, 'ro-'));
    await fs.promises.chmod(dir, 0o555);
    try {
      assert.throws(() => checkOutputPath(path.join(dir, 'out.png')), /not writable/);
    } finally {
      await fs.promises.chmod(dir, 0o755);
    }
  });
});
