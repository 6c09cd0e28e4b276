/**
 * Faults through the real command: hostile inputs and flags, unusual but valid content images, a
 * cost that stops being finite, a full disk and SIGTERM. Every image is made here, small.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { readImage, writeImage } from '../../src/io/images.js';
import { Adam } from '../../src/optim/adam.js';
import { optimize } from '../../src/optim/loop.js';
import { NonFiniteCostError, type Evaluation } from '../../src/optim/types.js';
import { interrupt, WEIGHTS } from '../helpers.js';
import { be16, encodePng, jimpImage, pngChunk, withOrientation } from '../images.js';
import {
  assertRefused,
  contentFile,
  flatImage,
  FIRST_LAYER_ONLY,
  later,
  literal,
  newDir,
  refusals,
  styleFile,
  stylize,
  type Command,
} from './runs.js';

const inputs = newDir();
/** Writes `bytes` as `name` among the inputs; returns its path. */
function input(name: string, bytes: Uint8Array | string): string {
  const file = path.join(inputs, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const png = await flatImage(48, 48, [200, 60, 30]);
const jpeg = await jimpImage(
  Array.from({ length: 48 * 48 * 4 }, (_, i) => (i * 37) % 256),
  48,
  48,
).getBuffer('image/jpeg');
const files = {
  text: input('notes.png', 'this is not an image\n'),
  empty: input('empty.jpg', ''),
  truncatedPng: input('truncated.png', png.subarray(0, png.length >> 1)),
  truncatedJpeg: input('truncated.jpg', jpeg.subarray(0, jpeg.length >> 1)),
  // Stretched to 32 px wide at --size 32, it is still 1 px high: too small for the pooling layers.
  strip: input('strip.png', await flatImage(200, 1, [90, 90, 90])),
  huge: input('huge.png', encodePng({ width: 40000, height: 40000, bitDepth: 8, colorType: 2, rows: [] })),
  small: input('small.png', png),
  weightsText: input('weights.h5', '<html>Not found</html>\n'),
  // The first megabyte of the real weights: a valid HDF5 superblock, the data cut off.
  weightsCut: input(
    'cut.h5',
    await fs.promises.open(WEIGHTS).then(async (handle) => {
      const { buffer } = await handle.read(Buffer.alloc(1 << 20), 0, 1 << 20, 0);
      await handle.close();
      return buffer;
    }),
  ),
  // Unusual content images: 64×32 as stored, tagged "rotate 90° clockwise"; a single pixel.
  rotated: input('rotated.jpg', withOrientation(await flatImage(64, 32, [200, 100, 50], 'image/jpeg'), 6)),
  onePixel: input('one.png', await flatImage(1, 1, [7, 8, 9])),
};

describe('hostile inputs at the command line are refused with one line naming the file', () => {
  const readOnly = newDir();
  fs.chmodSync(readOnly, 0o555);
  const isRoot = process.getuid?.() === 0;
  refusals([
    [
      'a text file as the content image',
      stylize([], { content: files.text }),
      () => literal(`content image ${files.text}: not an image (expected PNG, JPEG, BMP, GIF, TIFF, WebP or AVIF)`),
    ],
    [
      'an empty style image',
      stylize([], { style: files.empty }),
      () => literal(`style image ${files.empty}: empty file`),
    ],
    [
      'a truncated PNG as the content image',
      stylize([], { content: files.truncatedPng }),
      () => literal(`content image ${files.truncatedPng}: truncated PNG file (`),
    ],
    [
      'a truncated JPEG as the initial image',
      stylize(['--init', files.truncatedJpeg]),
      () => literal(`init image ${files.truncatedJpeg}: truncated JPEG file (`),
    ],
    [
      'a content image 1 px high: too small for the network at any width',
      stylize([], { content: files.strip }),
      () => literal(`the content image ${files.strip} is 32×1 px: the features need at least 16 px on each side`),
    ],
    [
      'a PNG header claiming 40000×40000 px',
      stylize([], { content: files.huge }),
      () =>
        literal(
          `content image ${files.huge}: 40000×40000 px is more than the limit of 25,000,000 pixels (raise it with --max-input-pixels)`,
        ),
    ],
    // --max-input-pixels reaches every image the command reads.
    ...(['content', 'style', 'init'] as const).map((which): [string, Command, () => RegExp] => [
      `--max-input-pixels 500000 refuses a larger ${which} image`,
      stylize(['--max-input-pixels', '500000', ...(which === 'init' ? ['--init', contentFile] : [])], {
        content: which === 'content' ? contentFile : files.small,
        style: which === 'style' ? contentFile : files.small,
      }),
      () => literal(`${which} image ${contentFile}: 1024×768 px is more than the limit of 500,000 pixels`),
    ]),
    [
      'an output path in a missing directory',
      stylize([], { out: path.join('missing', 'out.png') }),
      ({ output }) => literal(`output image ${output}: directory ${path.dirname(output)} does not exist`),
    ],
    [
      'an output path in a read-only directory',
      stylize([], { dir: readOnly }),
      ({ output }) => literal(`output image ${output}: directory ${readOnly} is not writable`),
      isRoot && 'root may write anywhere',
    ],
    [
      'an output path with an unknown extension',
      stylize([], { out: 'out.jxl' }),
      ({ output }) => literal(`output image ${output}: unknown extension .jxl; use one of .png, .jpg`),
    ],
    // A missing weights file: cli.test.ts; the file's own checks: weights.test.ts.
    [
      'a weights file that is not HDF5',
      stylize(['--weights', files.weightsText]),
      () => literal(`weights file ${files.weightsText}: not an HDF5 file`),
    ],
    [
      'a truncated weights file',
      stylize(['--weights', files.weightsCut]),
      () => literal(`weights file ${files.weightsCut}: file is truncated or corrupt`),
    ],
  ]);
});

describe('every numeric flag of nst stylize refuses what it cannot take', () => {
  // [flag, values refused, message]. Zero is a valid weight (--alpha, --beta, --var) and
  // --tolerance (run every iteration); any integer is a --seed. Already in cli.test.ts:
  // --size NaN, --alpha -1, --iterations 0, --lr abc, --beta1 2, --lbfgs-history 0,
  // --tolerance -1, --scales 0, --step equal to --iterations.
  const table: [string, string[], RegExp][] = [
    ['--size', ['-1', '0'], /size must be a positive integer/],
    [
      '--size',
      ['1e9'],
      /--size 1000000000: working images of up to 1000000000×1000000000 px are more than the limit of 25,000,000 pixels/,
    ],
    ['--alpha', ['NaN', '1e999'], /alpha must be a non-negative number/],
    ['--beta', ['NaN', '-1', '1e999'], /beta must be a non-negative number/],
    ['--var', ['NaN', '-1', '1e999'], /var must be a non-negative number/],
    ['--iterations', ['NaN', '-1'], /iterations must be a positive integer or a comma-separated list of them/],
    ['--scales', ['NaN', '-1'], /scales must be auto, a positive integer or a comma-separated list of sizes/],
    ['--scales', ['40'], /40 scales shrink 32 px below 1 px/],
    ['--scale-ratio', ['NaN', '1', '0.5', '5'], /scale-ratio must be more than 1 and at most 4/],
    ['--min-scale', ['NaN', '-1', '0', '1.5'], /min-scale must be a positive integer/],
    ['--average', ['NaN', '-0.1', '1'], /average must be in the range \[0, 1\)/],
    ['--step', ['NaN', '-1', '0'], /step must be a positive integer/],
    ['--lr', ['-1', '0', '1e999'], /lr must be positive/],
    // At 1, Adam's bias correction divides by zero (beta1) or its steps are all 0 (beta2).
    ['--beta1', ['NaN', '-0.1', '1'], /beta1 must be in the range \[0, 1\)/],
    ['--beta2', ['NaN', '-0.1', '1'], /beta2 must be in the range \[0, 1\)/],
    ['--lbfgs-history', ['NaN', '-1'], /lbfgs-history must be a positive integer/],
    ['--tolerance', ['NaN', '1e999'], /tolerance must be a non-negative number/],
    ['--seed', ['NaN', '1.5'], /seed must be an integer/],
    ['--threads', ['NaN', '-1', '0', '65'], /threads must be a positive integer, at most 64/],
    ['--style-scale', ['NaN', '-1', '0'], /style-scale must be positive/],
    [
      '--style-scale',
      ['1e6'],
      /--style-scale 1000000 × --size 32: style images of up to 32000000×32000000 px are more than the limit/,
    ],
    ['--save-every', ['NaN', '-1', '0'], /save-every must be a positive integer/],
    ['--max-input-pixels', ['NaN', '-1', '0'], /max-input-pixels must be a positive integer/],
    [
      '--max-input-pixels',
      ['1000'],
      /--size 32: working images of up to 32×32 px are more than the limit of 1,000 pixels/,
    ],
  ];
  refusals(
    table.flatMap(([flag, values, message]) =>
      values.map((value): [string, Command, () => RegExp] => [
        `${flag} ${value}`,
        stylize([`${flag}=${value}`]),
        () => message,
      ]),
    ),
  );
});

/** The shape of an image file and the mean of each channel. */
async function meanColor(file: string): Promise<{ shape: number[]; mean: number[] }> {
  const image = await readImage(file);
  const mean = tf.tidy(() => Array.from(tf.mean(image, [0, 1]).dataSync()));
  const shape = image.shape;
  image.dispose();
  return { shape, mean };
}

describe('unusual content images at the command line: the run succeeds at the right size', () => {
  const [PNG_GRAY, PNG_RGB, PNG_PALETTE, PNG_RGBA] = [0, 2, 3, 6];
  const rows = (height: number, row: number[]) => new Array<number[]>(height).fill(row);
  const repeat = (width: number, pixel: number[]) => new Array<number[]>(width).fill(pixel).flat();
  const png = (
    name: string,
    width: number,
    height: number,
    colorType: number,
    pixel: number[],
    bitDepth = 8,
    chunks: Buffer[] = [],
  ) => input(name, encodePng({ width, bitDepth, colorType, rows: rows(height, repeat(width, pixel)), chunks }));
  // [name, file, [height, width] of the output at --size 32, mean colour of the output]
  const cases: [string, string, [number, number], number[]][] = [
    ['8-bit grayscale PNG', png('gray.png', 48, 24, PNG_GRAY, [90]), [16, 32], [90, 90, 90]],
    // Alpha 128 over white: 255 · (1 − 128/255) = 127 where the colour is 0.
    ['RGBA PNG, half transparent', png('rgba.png', 24, 48, PNG_RGBA, [0, 0, 255, 128]), [32, 16], [127, 127, 255]],
    [
      'palette PNG',
      png('palette.png', 40, 40, PNG_PALETTE, [1], 8, [pngChunk('PLTE', [255, 0, 0, 30, 160, 60])]),
      [32, 32],
      [30, 160, 60],
    ],
    // 16-bit samples v read as round(v / 257).
    ['16-bit RGB PNG', png('deep.png', 48, 32, PNG_RGB, be16([0x1234, 0x8080, 0xffff]), 16), [21, 32], [18, 128, 255]],
    // Stored 64×32, it comes out 32 wide and 64 high.
    ['JPEG with EXIF orientation 6', files.rotated, [32, 16], [200, 100, 50]],
    ['1×1 PNG, stretched to 32×32', files.onePixel, [32, 32], [7, 8, 9]],
  ];
  for (const [name, file, [height, width], color] of cases) {
    const command = stylize(['--preset', 'seed', ...FIRST_LAYER_ONLY], { content: file });
    const result = later(command.args);
    it(name, async () => {
      const { code, stderr } = await result();
      assert.equal(code, 0, stderr);
      const { shape, mean } = await meanColor(command.output);
      assert.deepEqual(shape, [height, width, 3]);
      // Two Adam steps from the content move a pixel by about 2 × 0.01 × 255 at most.
      assert.ok(
        mean.every((m, c) => Math.abs(m - color[c]!) < 8),
        `mean colour ${mean.map(Math.round)}, expected about ${color}`,
      );
    });
  }
});

describe('a cost that stops being finite', () => {
  it('optimize(): NaN at iteration 3 stops the run, keeping the best finite image and its cost', async () => {
    const costs = [5, 2, 3, NaN, 1]; // by evaluation; the 1 is never reached
    const seen: tf.Tensor4D[] = [];
    const evaluate = async (image: tf.Tensor4D): Promise<Evaluation> => {
      seen.push(image.clone());
      const total = costs[seen.length - 1]!;
      return { gradient: tf.onesLike(image), costs: { total, content: total, style: 0, variation: 0 } };
    };
    const before = tf.memory().numTensors;
    const initial = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    await assert.rejects(
      optimize({ initial, iterations: 10, evaluate, optimizer: new Adam(0.1) }),
      (error: unknown) => {
        assert.ok(error instanceof NonFiniteCostError, String(error));
        assert.equal(error.message, 'cost became NaN at iteration 3');
        assert.equal(error.bestCost, 2);
        // Every step moves the pixels (by 0.1): the best image is the one of iteration 1.
        assert.deepEqual(Array.from(error.bestImage!.dataSync()), Array.from(seen[1]!.dataSync()));
        assert.notDeepEqual(Array.from(seen[1]!.dataSync()), Array.from(seen[2]!.dataSync()));
        error.bestImage!.dispose();
        return true;
      },
    );
    assert.equal(seen.length, 4, 'no evaluation after the NaN');
    tf.dispose([initial, ...seen]);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  });

  // With Adam, nothing the command takes makes the cost non-finite in the middle of a run: a
  // weight large enough for that makes the squared gradient Infinity first, and the steps 0.
  // A weight that makes its cost overflow float32 is refused before the first iteration, each of
  // the three the same way (the content cost is 0 at iteration 0, so a first cost cannot tell).
  for (const [flag, name, what] of [
    ['--alpha', 'alpha', 'content'],
    ['--beta', 'beta', 'style'],
    ['--var', 'var', 'variation'],
  ]) {
    const overflow = stylize([flag!, '1e38', ...FIRST_LAYER_ONLY]);
    const result = later(overflow.args);
    it(`at the command line, ${flag} 1e38 would overflow float32: exit 2 naming the flag, no file`, async () => {
      assertRefused(
        await result(),
        new RegExp(
          `^nst: ${name} is too large: ${name} × the ${what} cost \\(up to about \\S+\\) overflows float32; use at most \\S+\\n$`,
        ),
        overflow,
      );
    });
  }
});

/** A file handle on a disk with `room` bytes free: writeFile writes what fits, then fails as write(2) does. */
function onFullDisk(handle: fs.promises.FileHandle, room: number): fs.promises.FileHandle {
  let left = room;
  const writeFile = async (data: Uint8Array) => {
    const part = data.subarray(0, left);
    await handle.write(part);
    left -= part.length;
    if (part.length < data.length) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
        code: 'ENOSPC',
        errno: -28,
        syscall: 'write',
      });
    }
  };
  return { writeFile, close: () => handle.close() } as unknown as fs.promises.FileHandle;
}

describe('a full disk', () => {
  it('writeImage and writeFileAtomic: a write that fails part-way leaves the old file whole and no temporary file', async (t) => {
    const dir = newDir();
    const file = path.join(dir, 'out.png');
    const [old, next] = [tf.fill([8, 8, 3], 0.75), tf.fill([8, 8, 3], 0.25)] as tf.Tensor3D[];
    await writeImage(file, old!);
    const before = fs.readFileSync(file);
    const open = fs.promises.open;
    const opened = t.mock.method(fs.promises, 'open', async (where: fs.PathLike, flags?: string) =>
      onFullDisk(await open(where, flags), 40),
    );
    const attempts: [string, () => Promise<void>, string][] = [
      ['writeImage', () => writeImage(file, next!), 'output image'],
      [
        'writeFileAtomic, in its second part',
        () => writeFileAtomic(file, [Buffer.alloc(30, 1), Buffer.alloc(30, 2)], 'checkpoint'),
        'checkpoint',
      ],
    ];
    for (const [name, attempt, what] of attempts) {
      await assert.rejects(attempt(), (error: Error) => {
        assert.equal(error.message, `cannot write ${what} ${file}: ENOSPC: no space left on device, write`, name);
        return true;
      });
      assert.deepEqual(fs.readFileSync(file), before, `${name}: the old file is unchanged`);
      assert.deepEqual(fs.readdirSync(dir), ['out.png'], `${name}: no temporary file`);
    }
    assert.equal(opened.mock.callCount(), 2, 'both wrote to the full disk');
    tf.dispose([old!, next!]);
  });
});

describe('SIGTERM during a run', () => {
  it('exits 143 after writing the best image so far', async () => {
    const dir = newDir();
    const output = path.join(dir, 'out.png');
    const args = [
      'stylize',
      contentFile,
      styleFile,
      '-o',
      output,
      '--size',
      '40',
      '--iterations',
      '5000',
      '--step',
      '1',
      ...FIRST_LAYER_ONLY,
    ];
    const result = await interrupt(args, 3, 'SIGTERM');
    assert.equal(result.code, 143, result.stderr);
    assert.match(result.stderr, literal(`interrupted: ${output} holds the best image so far`));
    // The image written is the best of the iterations run: its cost is the lowest printed.
    const printed = result.stdout
      .trim()
      .split('\n')
      .map((line) => Number(line.match(/^Cost at iteration \d+: (\S+),/)![1]));
    assert.ok(printed.length > 3 && printed.length < 5000, `stopped after iteration 3 (${printed.length} lines)`);
    assert.equal(Number(result.stderr.match(/best cost (\S+)/)![1]), Math.min(...printed));
    assert.deepEqual((await meanColor(output)).shape, [30, 40, 3]);
    assert.deepEqual(fs.readdirSync(dir), ['out.png'], 'no temporary file');
  });
});
