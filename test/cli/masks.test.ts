// Masks through the command: styles by region (--style-masks) and a stylised subject on the
// untouched photo (--mask, --invert-mask), with their bad inputs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { scaleImage } from '../../src/core/resize.js';
import { softness } from '../../src/core/masks.js';
import { readImage, writeImage } from '../../src/io/images.js';
import { IMAGES, lcg, nst, tempDir, useWasm } from '../helpers.js';

const content = path.join(IMAGES, 'tubingen.jpg');
const SIDE = 64;

/** Diagonal stripes in one dominant channel over dark others: a style of one clear colour. */
function stripes(channel: number, seed: number): tf.Tensor3D {
  const random = lcg(seed);
  const data = new Float32Array(SIDE * SIDE * 3);
  for (let p = 0; p < SIDE * SIDE; p++) {
    const stripe = 0.5 + 0.5 * Math.sin(((p % SIDE) + 2 * Math.floor(p / SIDE)) / 3);
    for (let c = 0; c < 3; c++) data[p * 3 + c] = c === channel ? 0.55 + 0.4 * stripe : 0.05 + 0.1 * random();
  }
  return tf.tensor3d(data, [SIDE, SIDE, 3]);
}

/** White on the left half (or the right), as a mask image. */
const half = (left: boolean) =>
  tf.tensor3d(
    Float32Array.from({ length: SIDE * SIDE * 3 }, (_, i) => (Math.floor(i / 3) % SIDE < SIDE / 2 === left ? 1 : 0)),
    [SIDE, SIDE, 3],
  );

/** The mean colour (0..255) of columns [x0, x1) of an image [h, w, 3]. */
function meanColour(image: tf.Tensor3D, x0: number, x1: number): number[] {
  return tf.tidy(() => Array.from(tf.mean(image.slice([0, x0, 0], [-1, x1 - x0, -1]), [0, 1]).dataSync()));
}

const distance = (a: readonly number[], b: readonly number[]) => Math.hypot(...a.map((v, i) => v - b[i]!));

describe('masks through the command', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  before(async () => {
    await useWasm();
    dir = tempDir();
    await writeImage(file('red.png'), stripes(0, 7));
    await writeImage(file('blue.png'), stripes(2, 9));
    await writeImage(file('left.png'), half(true));
    await writeImage(file('right.png'), half(false));
  });
  after(() => fs.rmSync(dir, { recursive: true }));

  it('--style-masks: each half of the output takes its own style colours', async () => {
    const out = file('regions.png');
    const masks = `${file('left.png')},${file('right.png')}`;
    const args = ['stylize', content, file('red.png'), file('blue.png'), '-o', out, '--style-masks', masks];
    // The exercise's objective, where the style dominates at 96 px: the regions' colours are the question.
    const seedObjective = [
      '--alpha',
      '1e4',
      '--pooling',
      'avg',
      '--style-layer-weights',
      'equal',
      '--content-layers',
      'block5_conv2',
    ];
    const run = nst([...args, '--size', '96', '--scales', '1', '--iterations', '100', ...seedObjective]);
    assert.equal(run.code, 0, run.stderr);
    const image = await readImage(out);
    const red = await readImage(file('red.png'));
    const blue = await readImage(file('blue.png'));
    const [own, other] = [meanColour(red, 0, SIDE), meanColour(blue, 0, SIDE)];
    const [left, right] = [meanColour(image, 0, 48), meanColour(image, 48, 96)];
    // Measured 55 against 161 (left) and 3 against 219 (right): nearer its own by a factor of 2 at least.
    assert.ok(2 * distance(left, own) < distance(left, other), `left ${left} red ${own} blue ${other}`);
    assert.ok(2 * distance(right, other) < distance(right, own), `right ${right} red ${own} blue ${other}`);
    tf.dispose([image, red, blue]);
  });

  for (const invert of [false, true]) {
    it(`--mask${invert ? ' --invert-mask' : ''}: the photo untouched outside, stylised inside`, async () => {
      const out = file(`subject-${invert}.png`);
      const args = ['stylize', content, file('red.png'), '-o', out, '--mask', file('left.png')];
      const run = nst([
        ...args,
        ...(invert ? ['--invert-mask'] : []),
        '--size',
        '64',
        '--scales',
        '1',
        '--iterations',
        '30',
      ]);
      assert.equal(run.code, 0, run.stderr);
      const image = await readImage(out);
      const raw = await readImage(content);
      const photo = tf.tidy(() => tf.mul(tf.squeeze(scaleImage(raw, 64), [0]), 255) as tf.Tensor3D);
      const [h, w] = image.shape;
      assert.deepEqual(photo.shape, [h, w, 3]);
      // Beyond the soft edge (3σ of its Gaussian) the photo's own pixels; inside, painted.
      const edge = Math.ceil(3 * softness(h, w)) + 1;
      const [keptFrom, keptTo] = invert ? [0, w / 2 - edge] : [w / 2 + edge, w];
      const [paintedFrom, paintedTo] = invert ? [w / 2 + edge, w] : [0, w / 2 - edge];
      const difference = (x0: number, x1: number) =>
        tf.tidy(() =>
          tf.abs(tf.sub(image.slice([0, x0, 0], [-1, x1 - x0, -1]), photo.slice([0, x0, 0], [-1, x1 - x0, -1]))),
        );
      const kept = difference(keptFrom, keptTo);
      const painted = difference(paintedFrom, paintedTo);
      assert.ok(kept.max().dataSync()[0]! <= 2, `largest change outside the mask: ${kept.max().dataSync()[0]} levels`);
      assert.ok(painted.mean().dataSync()[0]! > 20, `mean change inside: ${painted.mean().dataSync()[0]} levels`);
      tf.dispose([image, raw, photo, kept, painted]);
    });
  }

  it('refuses bad masks with one line naming the problem, exit code 2, nothing written', () => {
    const out = file('bad.png');
    const base = ['stylize', content, file('red.png'), '-o', out, '--size', '32'];
    const cases: [string[], RegExp][] = [
      [
        ['--style-masks', `${file('left.png')},${file('right.png')}`],
        /^nst: style-masks must have one mask per style image \(1\)\n$/,
      ],
      [['--invert-mask'], /^nst: invert-mask needs a mask\n$/],
      [['--mask', file('none.png')], /^nst: .*mask .*none\.png/],
      [['--mask', out], /^nst: .*bad\.png/],
    ];
    for (const [flags, message] of cases) {
      const run = nst([...base, ...flags]);
      assert.equal(run.code, 2, `${flags.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.ok(!fs.existsSync(out), flags.join(' '));
    }
  });
});
