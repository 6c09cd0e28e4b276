/**
 * The ONNX engine on ONNX Runtime's WebGPU execution provider, over Mesa's software Vulkan driver
 * (lavapipe, from bookworm-backports: .ci/run installs it): the same costs and gradient as the CPU
 * provider, the same picture end to end, no memory growth, and the refusals of `--device`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { Engine, Objective } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import type { ConvLowering } from '../../src/engine/graph/convolutions.js';
import { readImage } from '../../src/io/images.js';
import { scaledSize, scaleImage } from '../../src/core/resize.js';
import { onnxMemoryModel } from '../../src/engine/onnx/memory.js';
import { OnnxAdam } from '../../src/engine/onnx/adam.js';
import { OnnxPairs } from '../../src/engine/onnx/curvature.js';
import { DevicePairs } from '../../src/engine/onnx/device-pairs.js';
import { modelOutputs } from '../../src/engine/vgg19.js';
import { SETTINGS } from '../../src/core/settings.js';
import { IMAGES, nst, relativeMaxError, tempDir, useWasm, WEIGHTS, useLavapipe } from '../helpers.js';

const objective: Objective = {
  alpha: 100,
  beta: 1,
  variation: 10,
  styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1'],
  contentLayers: ['block3_conv2'],
  styleLayerWeights: [16 / 21, 4 / 21, 1 / 21],
  pooling: 'max',
};

describe('the webgpu device (lavapipe)', () => {
  let content: tf.Tensor4D;
  let style: tf.Tensor4D;
  let x: tf.Tensor4D;
  const engines: Engine[] = [];
  before(async () => {
    useLavapipe();
    await useWasm();
    content = scaleImage(await readImage(path.join(IMAGES, 'tubingen.jpg')), 32) as tf.Tensor4D;
    style = scaleImage(await readImage(path.join(IMAGES, 'starry_night.jpg')), 32) as tf.Tensor4D;
    x = tf.tidy(() => content.mul(0.5).add(0.25)) as tf.Tensor4D;
  });
  after(() => {
    engines.forEach((e) => e.dispose());
    tf.dispose([content, style, x]);
  });

  async function evaluate(device: 'cpu' | 'webgpu', convolution: ConvLowering) {
    const engine = await createEngine({ engine: 'onnx', device, threads: 2, weights: WEIGHTS, onnx: { convolution } });
    engines.push(engine);
    const evaluator = await engine.createEvaluator(objective, { content, styles: [style], styleWeights: [1] });
    const { costs, gradient } = await evaluator.evaluate(x);
    const data = Float32Array.from(await gradient.data());
    gradient.dispose();
    return { costs, gradient: data, evaluator, engine };
  }

  for (const convolution of ['direct', 'winograd4'] as const) {
    it(`gives the CPU provider's costs (1e-5) and gradient (1e-4), ${convolution} convolutions, max pooling`, async () => {
      const cpu = await evaluate('cpu', convolution);
      const gpu = await evaluate('webgpu', convolution);
      assert.match(gpu.engine.info.description, /webgpu execution provider/);
      for (const key of ['total', 'content', 'style', 'variation'] as const) {
        const rel = Math.abs(gpu.costs[key] - cpu.costs[key]) / Math.abs(cpu.costs[key]);
        assert.ok(rel <= 1e-5, `${key}: ${gpu.costs[key]} vs ${cpu.costs[key]}`);
      }
      const rel = relativeMaxError(gpu.gradient, cpu.gradient);
      assert.ok(rel <= 1e-4, `gradient off by ${rel.toExponential(2)}`);
      // The optimisers' arithmetic goes where the evaluation runs: Adam's and L-BFGS' on the
      // device; on the CPU L-BFGS on ONNX Runtime's threads, Adam on TensorFlow.js.
      assert.ok(gpu.engine.adam instanceof OnnxAdam);
      assert.equal(cpu.engine.adam, undefined);
      const [gpuPairs, cpuPairs] = [gpu.engine.lbfgs!.pairs(1), cpu.engine.lbfgs!.pairs(1)];
      assert.ok(gpuPairs instanceof DevicePairs);
      assert.ok(cpuPairs instanceof OnnxPairs);
      gpuPairs.dispose();
      cpuPairs.dispose();
      cpu.evaluator.dispose();
      gpu.evaluator.dispose();
    });
  }

  it('does not grow from one evaluation to the next (lavapipe keeps device buffers in host memory)', async () => {
    const { evaluator } = await evaluate('webgpu', 'auto');
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) (await evaluator.evaluate(x)).gradient.dispose();
    };
    await run(5);
    const [tensors, rss] = [tf.memory().numTensors, process.memoryUsage().rss];
    await run(20);
    assert.equal(tf.memory().numTensors, tensors);
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(grown < 16, `resident memory grew by ${grown.toFixed(1)} MiB over 20 evaluations`);
    evaluator.dispose();
  });
});

describe('nst stylize --device', () => {
  before(useLavapipe);
  const [content, style] = [path.join(IMAGES, 'tubingen.jpg'), path.join(IMAGES, 'starry_night.jpg')];

  for (const optimizer of ['adam', 'lbfgs'] as const)
    it(`writes on webgpu the picture it writes on the cpu, within one level at 40 px (${optimizer}: its arithmetic on the device)`, async () => {
      const dir = tempDir();
      const run = (device: string) => {
        const out = path.join(dir, `${device}.png`);
        const flags = [
          '--size',
          '40',
          '--scales',
          '1',
          '--iterations',
          '3',
          '--optimizer',
          optimizer,
          '--device',
          device,
        ];
        const result = nst(['stylize', content, style, '-o', out, ...flags]);
        assert.equal(result.code, 0, result.stderr);
        return { out, stderr: result.stderr };
      };
      const gpu = run('webgpu');
      const cpu = run('cpu');
      assert.match(gpu.stderr, /webgpu execution provider on lavapipe, driver Mesa, software/);
      assert.match(cpu.stderr, /cpu execution provider/);
      await useWasm();
      const [a, b] = [await readImage(gpu.out), await readImage(cpu.out)];
      const levels = tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);
      tf.dispose([a, b]);
      assert.ok(levels <= 1, `${levels} levels apart`);
      fs.rmSync(dir, { recursive: true });
    });

  it("--max-memory is the GPU's: a limit below the whole run's device estimate tiles it, one below any tile's is refused", async () => {
    const model = onnxMemoryModel(false, 'auto', { name: 'lavapipe', memory: null });
    const styleShape = (await readImage(style)).shape;
    const run = {
      height: 72,
      width: 96,
      styleSizes: [scaledSize(styleShape[0], styleShape[1], 96)],
      optimizer: 'adam' as const,
      deepestLayer: modelOutputs(SETTINGS.styleLayers.default, SETTINGS.contentLayers.default).at(-1),
    };
    const [whole, tiled] = [model.estimate(run).heap, model.estimate({ ...run, tile: 80 }).heap];
    assert.ok(tiled < whole);
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const args = [
      'stylize',
      content,
      style,
      '--size',
      '96',
      '--scales',
      '1',
      '--iterations',
      '1',
      '--device',
      'webgpu',
    ];
    const limit = String(Math.round((whole + tiled) / 2));
    const fits = nst([...args, '-o', out, '--optimizer', 'adam', '--json', '--max-memory', limit]);
    assert.equal(fits.code, 0, fits.stderr);
    const tiles = fits.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { event: string; scale?: { tiles: number } });
    assert.ok(
      tiles.some((e) => e.event === 'progress' && e.scale!.tiles > 1),
      'run in tiles',
    );
    assert.deepEqual((await readImage(out)).shape, [72, 96, 3]);
    const none = path.join(dir, 'none.png');
    const refused = nst([...args, '-o', none, '--max-memory', '1M']);
    assert.equal(refused.code, 2, refused.stderr);
    // Dawn's two warnings about lavapipe's buffer limits come first (README.md, GPUs).
    assert.match(
      refused.stderr.trim().split('\n').at(-1)!,
      /^nst: a 96 px run needs about [\d.]+ GB of the memory of the GPU \(lavapipe\), which has [\d.]+ GB \(the memory limit set\); no --size fits \(or pass --no-memory-check\)$/,
    );
    assert.equal(fs.existsSync(none), false);
    fs.rmSync(dir, { recursive: true });
  });

  it('under auto, a GPU that does not start leaves the run on the CPU with a note (the library, in a process of its own)', () => {
    const script = `
      import { createEngine } from ${JSON.stringify(pathToFileURL(path.resolve('dist/src/engine/factory.js')).href)};
      const engine = await createEngine({ engine: 'onnx', device: 'auto', threads: 1, weights: ${JSON.stringify(WEIGHTS)}, onnx: { providers: ['webgpu', 'cpu'] } });
      console.log(engine.info.description);
      engine.dispose();`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /cpu execution provider, 1 thread; the GPU did not start \(.*No supported adapters\), so the CPU runs\)/,
    );
  });

  it('refuses a device that cannot start, and webgpu on onnx-wasm, with one line and exit code 2', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const cases: [string[], RegExp][] = [
      [['--device', 'dml'], /^nst: device dml cannot start: .*backend not found/],
      [['--device', 'webgpu', '--backend', 'onnx-wasm'], /^nst: device webgpu needs the onnx backend, not onnx-wasm$/],
      [['--device', 'tpu'], /--device.*tpu/],
    ];
    for (const [flags, message] of cases) {
      const result = nst(['stylize', content, style, '-o', out, '--size', '32', ...flags]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr.trim(), message);
      assert.equal(fs.existsSync(out), false);
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('a queue worker whose device cannot start refuses to start, before it reaches Redis', () => {
    const result = nst(['queue', 'worker', '--redis', 'redis://127.0.0.1:1', '--device', 'dml']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr.trim(), /^nst: device dml cannot start: .*backend not found/);
  });
});
