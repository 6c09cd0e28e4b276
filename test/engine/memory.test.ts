import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { measurePeak } from '../../bench/common.js';
import { InputError } from '../../src/errors.js';
import {
  availableMemory,
  checkMemory,
  largestFittingSize,
  memoryBudget,
  MemoryError,
  scaleWork,
  tileFor,
  type AvailableMemory,
  type RunPlan,
} from '../../src/core/memory.js';
import { scaledSize } from '../../src/core/resize.js';
import { networkBytes, WASM_HEAP_LIMIT, type RunShape } from '../../src/engine/memory.js';
import { heldWeightBytes, onnxMemoryModel } from '../../src/engine/onnx/memory.js';
import { readImage } from '../../src/io/images.js';
import { IMAGES, nst, tempDir, useWasm } from '../helpers.js';

/** The images the command runs on in bench/common.ts (tubingen × starry_night). */
async function shapes(): Promise<[number[], number[]]> {
  await useWasm();
  const content = await readImage(path.join(IMAGES, 'tubingen.jpg'));
  const style = await readImage(path.join(IMAGES, 'starry_night.jpg'));
  const result: [number[], number[]] = [content.shape, style.shape];
  content.dispose();
  style.dispose();
  return result;
}

/** A run evaluated whole: its tile size is larger than any size tried (see 'tiles' below for the others). */
const plan: Omit<RunPlan, 'size'> = {
  contentShape: [768, 1024, 3],
  styleShapes: [[640, 1024, 3]],
  tileSize: 16384,
};
/** The models of ONNX Runtime's native build and of its WebAssembly build (a 4 GiB heap). */
const native = onnxMemoryModel();
const wasm = onnxMemoryModel(true);
const estimateMemory = (run: RunShape) => native.estimate(run).rss;
const at = (size: number, p: Omit<RunPlan, 'size'> = plan) => {
  const [height, width] = scaledSize(p.contentShape[0]!, p.contentShape[1]!, size);
  return {
    ...p,
    height,
    width,
    styleSizes: [scaledSize(p.styleShapes![0]![0]!, p.styleShapes![0]![1]!, size)] as [number, number][],
  };
};

describe('memory estimate', () => {
  it('follows the network: layer outputs and weights up to the deepest layer', () => {
    // 512×384: the activations bench/README.md counts (≈ 253 MB); 15.3 M parameters to block5_conv2.
    assert.equal(
      networkBytes(384, 512).outputs,
      4 * 384 * 512 * (64 * 2 + 16 + (128 * 2) / 4 + 8 + (256 * 4) / 16 + 4 + (512 * 4) / 64 + 2 + (512 * 2) / 256),
    );
    assert.equal(networkBytes(1, 1).weights, 4 * 15304768);
    assert.ok(networkBytes(64, 64, 'block4_conv1').weights < networkBytes(64, 64).weights);
    assert.throws(() => networkBytes(8, 8, 'block6_conv1'), /unknown VGG19 layer/);
  });

  it('is within 25% of the peak resident memory measured in a fresh process, at 64 and 96 px', async (t) => {
    const [contentShape, styleShape] = await shapes();
    for (const size of [64, 96]) {
      const measured = measurePeak({ size, iterations: 1, backend: 'onnx' });
      const [height, width] = scaledSize(contentShape[0]!, contentShape[1]!, size);
      const styleSizes = [scaledSize(styleShape[0]!, styleShape[1]!, size)];
      const estimate = onnxMemoryModel().estimate({ height, width, styleSizes }).rss;
      const error = (estimate - measured.peakRss) / measured.peakRss;
      const text = `${size} px: estimate ${(estimate / 2 ** 20).toFixed(0)} MiB, measured ${(measured.peakRss / 2 ** 20).toFixed(0)} MiB`;
      t.diagnostic(`${text} (${(100 * error).toFixed(1)}%)`);
      assert.ok(Math.abs(error) < 0.25, text);
    }
  });

  it('grows with the size and the optimiser state', () => {
    assert.ok(estimateMemory(at(512)) > estimateMemory(at(256)));
    assert.ok(
      estimateMemory({ ...at(512), optimizer: 'lbfgs', history: 100 }) >
        estimateMemory({ ...at(512), optimizer: 'lbfgs', history: 10 }),
    );
    assert.ok(estimateMemory({ ...at(512), optimizer: 'lbfgs', history: 10 }) > estimateMemory(at(512)));
    // A small image with a large style image: the targets' forward passes set the peak.
    assert.ok(
      estimateMemory({ height: 32, width: 512, styleSizes: [[2048, 2048]] }) >
        estimateMemory({ height: 32, width: 512 }),
    );
  });
});

describe('memory guard', () => {
  const limited: AvailableMemory = { bytes: 3e9, source: 'MemAvailable', heap: WASM_HEAP_LIMIT };

  it('refuses a size that does not fit, naming the largest that does, which fits', () => {
    let message = '';
    assert.throws(
      () => checkMemory({ ...plan, size: 2048 }, native, limited),
      (error: Error) =>
        error instanceof MemoryError && error instanceof InputError && Boolean((message = error.message)),
    );
    const match =
      /^a 2048 px run needs about \d+\.\d GB but about 3\.0 GB is available \(MemAvailable\); the largest size that fits is (\d+)$/.exec(
        message,
      );
    assert.ok(match, message);
    const largest = Number(match[1]);
    assert.ok(largest > 64 && largest < 2048);
    assert.ok(estimateMemory(at(largest)) <= limited.bytes);
    assert.ok(estimateMemory(at(largest + 1)) > limited.bytes);
    assert.equal(checkMemory({ ...plan, size: largest }, native, limited), estimateMemory(at(largest)));
  });

  it('caps the wasm heap at 4 GiB however much memory there is', () => {
    const plenty: AvailableMemory = { bytes: 1e13, source: 'MemAvailable', heap: WASM_HEAP_LIMIT };
    assert.throws(
      () => checkMemory({ ...plan, size: 2048 }, wasm, plenty),
      /wasm heap of onnx-wasm, which cannot grow past 4 GiB; the largest size that fits is \d+/,
    );
    const largest = largestFittingSize(plan, wasm, plenty);
    assert.ok(wasm.estimate(at(largest)).heap <= WASM_HEAP_LIMIT);
    assert.ok(wasm.estimate(at(largest + 1)).heap > WASM_HEAP_LIMIT);
    // The native build has no such ceiling.
    assert.ok(checkMemory({ ...plan, size: 2048 }, native, { ...plenty, heap: null }) > WASM_HEAP_LIMIT);
    assert.equal(availableMemory(wasm).heap, WASM_HEAP_LIMIT);
    assert.equal(availableMemory(native).heap, null);
    assert.ok(availableMemory(native).bytes > process.memoryUsage.rss());
  });

  it("tiles a run that does not fit whole: in the largest tile that fits, the network at the tile's size", () => {
    const { tileSize, ...auto } = plan;
    assert.throws(() => checkMemory({ ...plan, size: 2048 }, native, limited), MemoryError);
    const run = at(2048);
    const tile = tileFor(run, native, limited);
    assert.ok(tile !== undefined && tile % 16 === 0 && tile < 2048, `tile ${tile}`);
    assert.ok(estimateMemory({ ...run, tile }) <= limited.bytes);
    assert.ok(estimateMemory({ ...run, tile: tile + 16 }) > limited.bytes);
    assert.equal(checkMemory({ ...auto, size: 2048 }, native, limited), estimateMemory({ ...run, tile }));
    // A run that fits whole is not tiled; a tile size asked for is used.
    assert.equal(tileFor(at(256), native, limited), undefined);
    assert.equal(tileFor(at(256), native, limited, 128), 128);
    // L-BFGS's 100 pairs are whole images: no tile makes 4096 px fit in 3 GB; the largest size that does is named.
    const lbfgs = { ...auto, optimizer: 'lbfgs' as const, history: 100 };
    assert.throws(
      () => checkMemory({ ...lbfgs, size: 4096 }, native, limited),
      /a 4096 px run needs about \d+\.\d GB but about 3\.0 GB is available \(MemAvailable\); the largest size that fits is \d+$/,
    );
    // --max-memory is the budget, the engine's heap ceiling still applying.
    assert.deepEqual(memoryBudget(wasm, 8 * 2 ** 30), {
      bytes: 8 * 2 ** 30,
      source: 'the memory limit set',
      heap: WASM_HEAP_LIMIT,
    });
    void tileSize;
  });

  it("weighs each scale's evaluation by its pixels, and a tiled one by its tiles' pixels and passes", () => {
    // 1024×768 in tiles of 512 px (context 64 px: an eighth of the tile): 2 rows × 3 columns of
    // 512×512 (origins 0, 256 and 0, 256, 512), each run forward twice and back once: 4/3 of a
    // whole evaluation's 3 passes. 512×384 fits in one tile: whole.
    const forced = { ...plan, tileSize: 512 };
    const tiled = 6 * 512 * 512 * (4 / 3);
    assert.deepEqual(scaleWork(forced, [256, 512, 1024], native, limited), [256 * 192, 512 * 384, tiled]);
    assert.deepEqual(scaleWork(plan, [512, 1024], native, memoryBudget(native, 2 ** 40)), [512 * 384, 1024 * 768]);
  });

  it('has no such ceiling on the native build: a 1600 px run fits in 10 GB where wasm refuses it', () => {
    const plenty: AvailableMemory = { bytes: 1e10, source: 'MemAvailable', heap: null };
    const direct = onnxMemoryModel(false, 'direct');
    assert.equal(native.heapLimit, null);
    assert.throws(() => checkMemory({ ...plan, size: 1600 }, wasm, { ...plenty, heap: WASM_HEAP_LIMIT }), /wasm heap/);
    assert.ok(checkMemory({ ...plan, size: 1600 }, direct, plenty) < plenty.bytes);
    // 1843 px whole in 10 GB with direct convolutions (the arena's extra beyond 1024 px counted);
    // Winograd's, the default, hold more from 768 px on (measured): 1555 px.
    assert.ok(largestFittingSize(plan, direct, plenty) > 1800);
    const winograd = largestFittingSize(plan, native, plenty);
    assert.ok(winograd > 1500 && winograd < largestFittingSize(plan, direct, plenty));
  });

  it('counts the transformed kernels of the Winograd convolutions from 128×192 px, not below', () => {
    const direct = onnxMemoryModel(false, 'direct');
    const small = { height: 96, width: 128 };
    assert.equal(native.estimate(small).rss, direct.estimate(small).rss);
    const at512 = { height: 384, width: 512 };
    const more = native.estimate(at512).rss - direct.estimate(at512).rss;
    // Per lowered pair of channels 36 taps instead of the kernel and its flipped copy's 18.
    assert.equal(more, heldWeightBytes('block5_conv2', 'auto', 384 * 512) - heldWeightBytes('block5_conv2', 'direct'));
    assert.ok(more > 100 * 2 ** 20);
  });

  it('the command refuses a run too big for the wasm heap before loading the model, with one line', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const args = [
      'stylize',
      path.join(IMAGES, 'tubingen.jpg'),
      path.join(IMAGES, 'starry_night.jpg'),
      '-o',
      out,
      '--size',
      '3000',
      '--backend',
      'onnx-wasm',
    ];
    const run = nst(args);
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /^nst: a 3000 px run needs about [\d.]+ GB.*; the largest --size that fits is \d+ \(or pass --no-memory-check\)\n$/,
    );
    const largest = Number(/fits is (\d+)/.exec(run.stderr)![1]);
    assert.ok(largest > 256 && largest < 3000, String(largest));
    assert.deepEqual(fs.readdirSync(dir), []);
    fs.rmSync(dir, { recursive: true });
  });
});
