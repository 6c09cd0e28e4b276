import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { disposeCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/core/checkpoint.js';
import { stylize, type Checkpoint, type StylizeOptions } from '../../src/core/stylize.js';
import type { Engine } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import { readImage } from '../../src/io/images.js';
import { IMAGES, interrupt, nst, tempDir, useWasm, WEIGHTS, useLavapipe } from '../helpers.js';

const contentFile = path.join(IMAGES, 'tubingen.jpg');
const styleFile = path.join(IMAGES, 'starry_night.jpg');

const pixels = async (file: string) => {
  const image = await readImage(file);
  const data = Array.from(image.dataSync());
  image.dispose();
  return data;
};

describe('checkpoints and resume', () => {
  let engine: Engine;
  let content: tf.Tensor3D;
  let style: tf.Tensor3D;
  before(async () => {
    await useWasm();
    engine = await createEngine({ engine: 'onnx', weights: WEIGHTS });
    content = await readImage(contentFile);
    style = await readImage(styleFile);
  });
  after(() => {
    engine.dispose();
    tf.dispose([content, style]);
  });

  const variants: [string, Partial<StylizeOptions>][] = [
    ['adam', { optimizer: 'adam' }],
    ['lbfgs', { optimizer: 'lbfgs' }],
    ['adam with iterate averaging, carried moments and masks', { optimizer: 'adam', average: 0.9, carryMoments: true }],
  ];
  /** A two-scale run, stopped at the second scale's iteration 2 and resumed from its file, against an uninterrupted one. */
  async function stopAndResume(runOn: Engine, variant: Partial<StylizeOptions>) {
    const masks = variant.average ? { mask: content, styleMasks: [style] } : {};
    const options: StylizeOptions = {
      engine: runOn,
      size: 48,
      scales: [32, 48],
      iterations: [5, 5],
      ...variant,
      ...masks,
      // Each scale converges at iteration 3, a window after its start: the resumed run must
      // carry the window's best costs over from the checkpoint to stop where this one does.
      convergence: 0.9,
      convergenceWindow: 3,
    };
    const [whole, wholeCost, summary] = await stylize(style, content, options);
    assert.deepEqual(
      summary.scales.map((s) => [s.iterations, s.reason]),
      [
        [3, 'converged'],
        [3, 'converged'],
      ],
    );

    // Stopped at the second scale's iteration 2 (iteration 7 over both scales).
    const dir = tempDir();
    const file = path.join(dir, 'run.ckpt');
    const abort = new AbortController();
    const saved: number[] = [];
    const [partial] = await stylize(style, content, {
      ...options,
      signal: abort.signal,
      checkpointEvery: 3,
      onCheckpoint: async (checkpoint: Checkpoint) => {
        saved.push(checkpoint.scale * 100 + checkpoint.state.iteration);
        await saveCheckpoint(file, checkpoint);
      },
      onProgress: (e) => {
        if (e.scale!.index === 2 && e.iteration === 2) abort.abort();
      },
    });
    partial.dispose();
    assert.deepEqual(saved, [3, 101, 102], 'every 3 iterations over both scales, and at the stop');

    const checkpoint = await loadCheckpoint(file);
    assert.equal(checkpoint.scale, 1);
    assert.equal(checkpoint.state.iteration, 2);
    const before = tf.memory().numTensors;
    const [resumed, resumedCost, resumedSummary] = await stylize(style, content, { ...options, resume: checkpoint });
    assert.deepEqual(resumedSummary.scales, [summary.scales[1]]);
    assert.equal(tf.memory().numTensors, before + 1, 'only the result is left');
    disposeCheckpoint(checkpoint);
    assert.equal(resumedCost, wholeCost);
    assert.deepEqual(Array.from(resumed.dataSync()), Array.from(whole.dataSync()));
    tf.dispose([whole, resumed]);
    fs.rmSync(dir, { recursive: true });
  }

  for (const [label, variant] of variants)
    it(`${label}, two scales: a run stopped and resumed from its checkpoint file ends exactly as an uninterrupted one`, () =>
      stopAndResume(engine, variant));

  // On the GPU the optimiser's state lives there (L-BFGS's pairs, written back from the file).
  for (const optimizer of ['adam', 'lbfgs'] as const)
    it(`${optimizer} on the webgpu device (lavapipe), two scales: stopped and resumed, it ends exactly as an uninterrupted run`, async () => {
      useLavapipe();
      const gpu = await createEngine({ engine: 'onnx', device: 'webgpu', weights: WEIGHTS });
      try {
        await stopAndResume(gpu, { optimizer });
      } finally {
        gpu.dispose();
      }
    });

  it('a checkpoint taken during a tiled scale resumes to the same pixels', async () => {
    // 48 px whole, then 96×72 px in two tiles of 80×72.
    const options: StylizeOptions = { engine, size: 96, scales: [48, 96], iterations: [3, 4], tileSize: 80 };
    const tiles: number[] = [];
    const done: string[] = [];
    const [whole, wholeCost, summary] = await stylize(style, content, {
      ...options,
      onProgress: (e) => void (e.iteration === 0 && tiles.push(e.scale.tiles)),
      onTile: (e) => done.push(`${e.scale.index}:${e.done}/${e.total}`),
    });
    assert.deepEqual(tiles, [1, 2], 'the first scale whole, the second in 2 tiles');
    // Each evaluation of the tiled scale reports its 2 passes over 2 tiles; the first scale's none.
    const pass = ['2:1/4', '2:2/4', '2:3/4', '2:4/4'];
    assert.ok(done.length >= 4 * (summary.scales[1]!.iterations + 1), `${done.length} tiles reported`);
    assert.deepEqual(done, Array.from({ length: done.length / 4 }, () => pass).flat());
    let checkpoint: Checkpoint | null = null;
    const abort = new AbortController();
    const [partial] = await stylize(style, content, {
      ...options,
      signal: abort.signal,
      checkpointEvery: 100,
      onCheckpoint: async (c: Checkpoint) => {
        const dir = tempDir();
        await saveCheckpoint(path.join(dir, 'run.ckpt'), c);
        checkpoint = await loadCheckpoint(path.join(dir, 'run.ckpt'));
        fs.rmSync(dir, { recursive: true });
      },
      onProgress: (e) => {
        if (e.scale.index === 2 && e.iteration === 2) abort.abort();
      },
    });
    partial.dispose();
    assert.ok(checkpoint, 'saved at the stop');
    const saved = checkpoint as Checkpoint;
    assert.deepEqual([saved.scale, saved.state.iteration, saved.settings.tileSize], [1, 2, 80]);
    const [resumed, resumedCost] = await stylize(style, content, { ...options, resume: saved });
    disposeCheckpoint(saved);
    assert.equal(resumedCost, wholeCost);
    assert.deepEqual(Array.from(resumed.dataSync()), Array.from(whole.dataSync()));
    tf.dispose([whole, resumed]);
  });

  it('refuses to resume with other settings or other images', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'run.ckpt');
    const options: StylizeOptions = {
      engine,
      size: 32,
      iterations: 2,
      checkpointEvery: 2,
      onCheckpoint: (c) => saveCheckpoint(file, c),
    };
    (await stylize(style, content, options))[0].dispose();
    const checkpoint = await loadCheckpoint(file);
    const base = { engine, size: 32, iterations: 2, resume: checkpoint };
    await assert.rejects(
      stylize(style, content, { ...base, alpha: 5 }),
      /cannot resume: the checkpoint was made with alpha 100, this run has 5/,
    );
    await assert.rejects(stylize(content, content, base), /cannot resume: the checkpoint was made from other images/);
    disposeCheckpoint(checkpoint);
    fs.rmSync(dir, { recursive: true });
  });

  it('Ctrl-C writes the best image and the checkpoint; --resume finishes with the uninterrupted image', async () => {
    const dir = tempDir();
    const args = (out: string) => [
      'stylize',
      contentFile,
      styleFile,
      '-o',
      path.join(dir, out),
      '--size',
      '40',
      '--iterations',
      '40',
      '--step',
      '1',
    ];
    const whole = nst(args('whole.png'));
    assert.equal(whole.code, 0, whole.stderr);

    const ckpt = path.join(dir, 'run.ckpt');
    const stopped = await interrupt([...args('out.png'), '--checkpoint', ckpt, '--save-every', '2'], 5);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(
      stopped.stderr,
      /interrupted: .*out\.png holds the best image so far; continue with --resume .*run\.ckpt/,
    );
    assert.ok(fs.existsSync(path.join(dir, 'out.png')) && fs.existsSync(ckpt));
    // Snapshots: out_000002.png, out_000004.png, … each the size of the output.
    const snapshots = fs.readdirSync(dir).filter((f) => /^out_\d{6}\.png$/.test(f));
    assert.ok(snapshots.includes('out_000002.png') && snapshots.includes('out_000004.png'), snapshots.join(', '));
    assert.deepEqual((await readImage(path.join(dir, 'out_000002.png'))).shape, [30, 40, 3]);

    // The resume takes its settings from the checkpoint (no --size or --iterations given).
    const resumed = nst(['stylize', contentFile, styleFile, '-o', path.join(dir, 'out.png'), '--resume', ckpt]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming .*run\.ckpt at scale 1, iteration \d+/);
    assert.deepEqual(await pixels(path.join(dir, 'out.png')), await pixels(path.join(dir, 'whole.png')));
    assert.ok(!fs.readdirSync(dir).some((f) => f.includes('.tmp-')), 'no temporary file left');

    const conflict = nst([
      'stylize',
      contentFile,
      styleFile,
      '-o',
      path.join(dir, 'x.png'),
      '--resume',
      ckpt,
      '--alpha',
      '3',
    ]);
    assert.equal(conflict.code, 2);
    assert.match(conflict.stderr, /^nst: cannot resume: the checkpoint was made with alpha 100, this run has 3\n$/);
    fs.writeFileSync(path.join(dir, 'bad.ckpt'), 'hello');
    const bad = nst([
      'stylize',
      contentFile,
      styleFile,
      '-o',
      path.join(dir, 'x.png'),
      '--resume',
      path.join(dir, 'bad.ckpt'),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^nst: checkpoint .*bad\.ckpt: not an nst checkpoint\n$/);
    fs.writeFileSync(path.join(dir, 'cut.ckpt'), fs.readFileSync(ckpt).subarray(0, 2000));
    const cut = nst([
      'stylize',
      contentFile,
      styleFile,
      '-o',
      path.join(dir, 'x.png'),
      '--resume',
      path.join(dir, 'cut.ckpt'),
    ]);
    assert.equal(cut.code, 2);
    assert.match(cut.stderr, /^nst: checkpoint .*cut\.ckpt: (cut short|damaged header)/);
    assert.ok(!fs.existsSync(path.join(dir, 'x.png')));
    fs.rmSync(dir, { recursive: true });
  });
});
