import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scaledSize } from '../../src/core/resize.js';
import { SETTINGS } from '../../src/core/settings.js';
import { modelOutputs } from '../../src/engine/vgg19.js';
import { onnxMemoryModel } from '../../src/engine/onnx/memory.js';
import { readImage } from '../../src/io/images.js';
import { IMAGES, nst, tempDir } from '../helpers.js';

const content = path.join(IMAGES, 'tubingen.jpg');
const style = path.join(IMAGES, 'starry_night.jpg');

type Event = {
  event: string;
  scale?: { tiles: number; size: number };
  settings?: { tileSize: number | null };
  evaluations?: number;
  done?: number;
  total?: number;
};
const events = (stdout: string): Event[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Event);

/** The tile counts the progress events report, one per scale. */
const tilesPerScale = (list: Event[]) => [
  ...new Map(list.filter((e) => e.event === 'progress').map((e) => [e.scale!.size, e.scale!.tiles])).values(),
];

describe('tiles through the command', () => {
  it('--tile-size: the large scale runs in tiles and the output has the asked size', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const run = nst(
      ['stylize', content, style, '-o', out, '--size', '96', '--scales', '48,96', '--iterations', '2,2'].concat([
        '--tile-size',
        '80',
        '--json',
        '--step',
        '1',
      ]),
    );
    assert.equal(run.code, 0, run.stderr);
    const list = events(run.stdout);
    assert.equal(list.find((e) => e.event === 'start')!.settings!.tileSize, 80);
    assert.deepEqual(tilesPerScale(list), [1, 2], '48 px whole, 96×72 px in two tiles of 80×72');
    // Each evaluation at the tiled scale reports its tiles as they are done: two passes over two tiles.
    const progress = list.filter((e) => e.event === 'progress');
    const at96 = progress.filter((e) => e.scale!.size === 96);
    const evaluations = at96.at(-1)!.evaluations! - progress.filter((e) => e.scale!.size === 48).at(-1)!.evaluations!;
    const tiles = list.filter((e) => e.event === 'tile');
    assert.ok(tiles.every((e) => e.scale!.size === 96 && e.scale!.tiles === 2 && e.total === 4));
    assert.deepEqual(
      tiles.map((e) => e.done),
      Array.from({ length: evaluations }, () => [1, 2, 3, 4]).flat(),
    );
    assert.ok(evaluations >= 3, 'iteration 0 and two steps');
    assert.deepEqual((await readImage(out)).shape, [72, 96, 3]);
    fs.rmSync(dir, { recursive: true });
  });

  it('--max-memory below what the whole run needs tiles it automatically', async () => {
    // A limit between the ONNX engine's estimates of the whole 96-px run and of its run in tiles.
    const model = onnxMemoryModel();
    const [h, w] = [72, 96];
    const styleShape = (await readImage(style)).shape;
    const run = {
      height: h,
      width: w,
      styleSizes: [scaledSize(styleShape[0], styleShape[1], 96)],
      optimizer: 'lbfgs' as const,
      deepestLayer: modelOutputs(SETTINGS.styleLayers.default, SETTINGS.contentLayers.default).at(-1),
    };
    const whole = model.estimate(run).rss;
    const tiled = model.estimate({ ...run, tile: 80 }).rss;
    assert.ok(tiled < whole);
    const limit = Math.round((whole + tiled) / 2);
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const args = ['stylize', content, style, '-o', out, '--size', '96', '--scales', '1', '--iterations', '2', '--json'];
    const result = nst([...args, '--max-memory', String(limit), '--backend', 'onnx']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(tilesPerScale(events(result.stdout)), [2]);
    assert.deepEqual((await readImage(out)).shape, [72, 96, 3]);
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses a tile too small and a memory size that is not one, with one line and exit code 2', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    for (const [flags, message] of [
      [
        ['--tile-size', '40'],
        /^nst: option '--tile-size <px>' argument '40' is invalid\. tile-size must be an integer of at least 80 px\n$/,
      ],
      [
        ['--max-memory', 'lots'],
        /^nst: option '--max-memory <size>' argument 'lots' is invalid\. max-memory must be a size such as 8G, 1\.5G or 512M\n$/,
      ],
    ] as const) {
      const run = nst(['stylize', content, style, '-o', out, '--size', '96', ...flags]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.ok(!fs.existsSync(out));
    }
    fs.rmSync(dir, { recursive: true });
  });
});
