/**
 * The command as a careless or hostile user runs it: outputs that would overwrite inputs,
 * devices and FIFOs as inputs, a full stdout, signals at awkward moments, truncated and crafted
 * files, batches that are wrong from the start, and the small things (flags, terminals, files).
 * Every run goes through bin/nst; every image is made here, small.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveRunSettings } from '../../src/core/settings.js';
import { readImage } from '../../src/io/images.js';
import { lcg, nstAsync, WEIGHTS, type Run } from '../helpers.js';
import { encodePng, jimpImage } from '../images.js';
import {
  assertRefused,
  contentFile,
  FIRST_LAYER_ONLY,
  flatImage,
  later,
  literal,
  newDir,
  queued,
  refusals,
  stylize,
  type Command,
} from './runs.js';

/** A run long enough to be interrupted: 5000 iterations with a cost line each, at `size` px. */
function longRun(size = 40): Command {
  const command = stylize(['--step', '1', ...FIRST_LAYER_ONLY], {});
  const args = command.args.map((arg, i, all) =>
    all[i - 1] === '--iterations' ? '5000' : all[i - 1] === '--size' ? String(size) : arg,
  );
  return { ...command, args: args.filter((arg) => arg !== '-q') };
}

/** Whether `file` is an image that reads whole. */
async function readsWhole(file: string): Promise<boolean> {
  try {
    (await readImage(file)).dispose();
    return true;
  } catch {
    return false;
  }
}

describe('a full stdout, signals and temporary files', () => {
  const full = stylize(['--step', '1', ...FIRST_LAYER_ONLY]);
  const fullRun = later(full.args, { stdout: '/dev/full' });
  it('--step 1 > /dev/full: the cost lines are dropped, the image is written, exit 0', async () => {
    const { code, stderr } = await fullRun();
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.deepEqual(fs.readdirSync(full.dir), ['out.png']);
    assert.ok(await readsWhole(full.output));
  });

  const hangup = longRun();
  const hangupRun = queued(() => {
    let sent = false;
    return nstAsync(hangup.args, (stdout, child) => {
      if (!sent && stdout.includes('Cost at iteration 3:')) sent = child.kill('SIGHUP');
    });
  });
  it('SIGHUP ends the run as SIGTERM does: the best image written, exit 129', async () => {
    const { code, stderr } = await hangupRun();
    assert.equal(code, 129, stderr);
    assert.match(stderr, literal(`interrupted: ${hangup.output} holds the best image so far`));
    assert.deepEqual(fs.readdirSync(hangup.dir), ['out.png']);
    assert.ok(await readsWhole(hangup.output));
  });

  // The second Ctrl-C exits at once: while the final image is encoded and written (a 384 px PNG
  // takes tens of milliseconds), that used to leave the temporary file behind.
  for (const delay of [20, 35, 50, 65, 80]) {
    const command = longRun(384);
    const result = queued(() => {
      let sent = false;
      return nstAsync(command.args, (stdout, child) => {
        if (sent || !stdout.includes('Cost at iteration 3:')) return;
        sent = child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), delay);
      });
    });
    it(`a second Ctrl-C ${delay} ms after the first: exit 130, the whole image or none, no temporary file`, async () => {
      const { code, stderr } = await result();
      assert.equal(code, 130, stderr);
      const left = fs.readdirSync(command.dir);
      assert.ok(left.length === 0 || (left.length === 1 && left[0] === 'out.png'), `left behind: ${left}`);
      if (left.length === 1) assert.ok(await readsWhole(command.output), 'the image reads whole');
    });
  }

  // Between the written image and the process's end the command has released its trap; a signal
  // there must still end it with its code, not kill it by the default action (exit code null).
  it('a signal after the trap is released, once one came: exit with its code', () => {
    const terminal = path.resolve('dist/src/cli/terminal.js');
    const script = `
      const { trapSignals } = await import(${JSON.stringify(terminal)});
      const signals = trapSignals();
      signals.running(true);
      signals.interrupt();
      signals.release();
      process.kill(process.pid, 'SIGHUP');
      setTimeout(() => process.exit(0), 2000);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.signal, null, 'killed by the default action');
    assert.equal(run.status, 129, run.stderr);
  });
});

/** Runs `nst args` in a pseudo-terminal (util-linux `script`) with `env`; what the terminal showed. */
function inTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const line = [process.execPath, path.resolve('bin/nst'), ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', line, '/dev/null'], {
      env: { ...process.env, NST_WEIGHTS: WEIGHTS, ...env },
    });
    const run: Run = { code: null, stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ...run, code }));
  });
}

describe('the small things', () => {
  it('nst --version prints the version of the package', async () => {
    const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };
    const run = await nstAsync(['--version']);
    assert.deepEqual(run, { code: 0, stdout: `${manifest.version}\n`, stderr: '' });
  });

  const { dir, output } = stylize([]);
  const usage: [string, string[], string][] = [
    ['nst stylz', ['stylz'], "nst: unknown command 'stylz' (did you mean stylize?)\n"],
    [
      'nst stylize … --sizee 3',
      ['stylize', 'a.png', 'b.png', '-o', output, '--sizee', '3'],
      "nst: unknown option '--sizee' (did you mean --size?)\n",
    ],
  ];
  for (const [name, args, line] of usage) {
    it(`${name}: one line, exit 2`, async () => {
      const run = await nstAsync(args);
      assert.deepEqual(run, { code: 2, stdout: '', stderr: line });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  }

  const readOnly = stylize([]);
  fs.writeFileSync(readOnly.output, 'keep me');
  fs.chmodSync(readOnly.output, 0o444);
  const readOnlyRun = later(readOnly.args);
  it('an existing output file that is read-only is refused, and kept', async () => {
    assertRefused(
      await readOnlyRun(),
      literal(`output image ${readOnly.output}: the file exists and is read-only`),
      readOnly,
      ['out.png'],
    );
    assert.equal(fs.readFileSync(readOnly.output, 'utf8'), 'keep me');
  });

  refusals([
    ['--size 0x10: decimal numbers only', stylize(['--size', '0x10']), () => /size must be a positive integer/],
    ['--alpha 0b1: decimal numbers only', stylize(['--alpha', '0b1']), () => /alpha must be a non-negative number/],
    ['--threads 0x2: decimal numbers only', stylize(['--threads', '0x2']), () => /threads must be a positive integer/],
    [
      '--style-weights 0x1: decimal numbers only',
      stylize(['--style-weights', '0x1']),
      () => /style-weights must be a comma-separated list of non-negative numbers/,
    ],
  ]);

  // In a terminal the progress bar moves the cursor; TERM=dumb or NO_COLOR ask for none of that.
  const bar = [...stylize(FIRST_LAYER_ONLY).args.filter((a) => a !== '-q'), '--iterations', '3'];
  const terminals: [string, NodeJS.ProcessEnv, boolean][] = [
    ['TERM=xterm: the progress bar draws with escape codes', { TERM: 'xterm', NO_COLOR: '' }, true],
    ['TERM=dumb: no escape codes', { TERM: 'dumb', NO_COLOR: '' }, false],
    ['NO_COLOR=1: no escape codes', { TERM: 'xterm', NO_COLOR: '1' }, false],
  ];
  for (const [name, env, escapes] of terminals) {
    const result = queued(() => inTerminal(bar, env));
    it(name, async () => {
      const { code, stdout } = await result();
      assert.equal(code, 0, stdout);
      assert.match(stdout, /wrote .*out\.png/);
      assert.equal(stdout.includes('\x1b['), escapes, JSON.stringify(stdout.slice(0, 400)));
    });
  }
});

const inputs = newDir();
/** Writes `bytes` as `name` in a folder of inputs (a new one unless `dir` is given); returns its path. */
function input(name: string, bytes: Uint8Array | string, dir = inputs): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}
const photo = await flatImage(48, 40, [200, 60, 30]);
const painting = await flatImage(40, 48, [30, 60, 200]);
const pixels = Array.from({ length: 48 * 48 * 4 }, (_, i) => (i * 37) % 256);
const files = {
  jpeg: await jimpImage(pixels, 48, 48).getBuffer('image/jpeg'),
  bmp: await jimpImage(pixels, 48, 48).getBuffer('image/bmp'),
  tiff: await jimpImage(pixels, 48, 48).getBuffer('image/tiff'),
};

/** `nst batch` at 32 px, one iteration each, quietly, with `extra` flags. */
const batch = (extra: string[]) => ['batch', ...extra, '--size', '32', '--iterations', '1', '-q', ...FIRST_LAYER_ONLY];

describe('an output never overwrites an input or another output: refused up front, exit 2, both paths named', () => {
  // Each case in a folder of its own holding the inputs it names; they must come out unchanged.
  const cases: [name: string, make: (dir: string) => { args: string[]; message: RegExp }][] = [
    [
      '-o naming the content image',
      (dir) => {
        const content = input('photo.png', photo, dir);
        return {
          args: stylize([], { content, dir, out: 'photo.png' }).args,
          message: literal(`output image ${content} would overwrite the content image ${content}`),
        };
      },
    ],
    [
      '-o a symbolic link to the style image',
      (dir) => {
        const style = input('style.png', painting, dir);
        fs.symlinkSync(style, path.join(dir, 'out.png'));
        return {
          args: stylize([], { style, dir }).args,
          message: literal(`output image ${path.join(dir, 'out.png')} would overwrite the style image ${style}`),
        };
      },
    ],
    [
      '-o a hard link to the content image, spelled with ./',
      (dir) => {
        const content = input('photo.png', photo, dir);
        fs.linkSync(content, path.join(dir, 'out.png'));
        const output = path.join(dir, '.', 'sub', '..', 'out.png');
        fs.mkdirSync(path.join(dir, 'sub'));
        return {
          args: ['stylize', content, content, '-o', output, '--size', '32', '--iterations', '2'],
          message: literal(`would overwrite the content image ${content}`),
        };
      },
    ],
    [
      '--checkpoint naming the content image',
      (dir) => {
        const content = input('photo.png', photo, dir);
        return {
          args: stylize(['--checkpoint', content], { content, dir }).args,
          message: literal(`checkpoint ${content} would overwrite the content image ${content}`),
        };
      },
    ],
    [
      '--checkpoint naming the output',
      (dir) => {
        const command = stylize(['--checkpoint', path.join(dir, 'sub', '..', 'out.png')], { dir });
        fs.mkdirSync(path.join(dir, 'sub'));
        return { args: command.args, message: /is the same file as the output image .*out\.png/ };
      },
    ],
    [
      '--init naming the output',
      (dir) => {
        const init = input('out.png', photo, dir);
        return {
          args: stylize(['--init', init], { dir }).args,
          message: literal(`output image ${init} would overwrite the init image ${init}`),
        };
      },
    ],
    [
      'a --save-every snapshot named like the content image',
      (dir) => {
        const content = input('out_000002.png', photo, dir);
        return {
          args: stylize(['--save-every', '1'], { content, dir }).args,
          message: /snapshots? \(--save-every\).* would overwrite the content image .*out_000002\.png/,
        };
      },
    ],
    [
      '--checkpoint naming the weights file (through a link)',
      (dir) => {
        const weights = input('vgg19.h5', 'the weights are read only when the run starts', dir);
        fs.symlinkSync(weights, path.join(dir, 'link.h5'));
        return {
          args: stylize(['--weights', weights, '--checkpoint', path.join(dir, 'link.h5')], { dir }).args,
          message: literal(`checkpoint ${path.join(dir, 'link.h5')} would overwrite the weights file ${weights}`),
        };
      },
    ],
    [
      'batch --force with --out-dir the content folder and --name {content}.png',
      (dir) => {
        input('a.png', photo, dir);
        input('b.png', photo, dir);
        const style = input('style.jpg', painting, newDir());
        return {
          args: batch(['--content', dir, '--style', style, '--out-dir', dir, '--name', '{content}.png', '--force']),
          message: literal(
            `output image ${path.join(dir, 'a.png')} would overwrite the content image ${path.join(dir, 'a.png')}`,
          ),
        };
      },
    ],
    [
      "batch: one job's output is another job's content",
      (dir) => {
        input('a.png', photo, dir);
        input('b.png', photo, dir);
        input('style.png', painting, dir);
        const manifest = input('jobs.csv', 'content,style,output\na.png,style.png,b.png\nb.png,style.png,c.png\n', dir);
        return {
          args: batch(['--manifest', manifest, '--out-dir', dir]),
          message: /output image .*b\.png would overwrite the content image .*b\.png/,
        };
      },
    ],
  ];
  for (const [name, make] of cases) {
    const dir = newDir();
    const { args, message } = make(dir);
    const before = new Map(
      fs
        .readdirSync(dir)
        .map((f) => [f, fs.lstatSync(path.join(dir, f)).isFile() ? fs.readFileSync(path.join(dir, f)) : null]),
    );
    const result = later(args);
    it(name, async () => {
      assertRefused(await result(), message, { dir }, [...before.keys()]);
      for (const [file, bytes] of before)
        if (bytes) assert.deepEqual(fs.readFileSync(path.join(dir, file)), bytes, `${file} unchanged`);
    });
  }

  it('-o naming the checkpoint that --resume reads is refused; --checkpoint naming it goes on', async () => {
    const dir = newDir();
    const checkpoint = path.join(dir, 'run.png'); // a checkpoint named like an image
    const first = await nstAsync(
      stylize(['--save-every', '1', '--checkpoint', checkpoint, ...FIRST_LAYER_ONLY], { dir, out: 'a.png' }).args,
    );
    assert.equal(first.code, 0, first.stderr);
    const saved = fs.readFileSync(checkpoint);
    const refused = await nstAsync(stylize(['--resume', checkpoint], { dir, out: 'run.png' }).args);
    assert.equal(refused.code, 2);
    assert.equal(
      refused.stderr,
      `nst: output image ${checkpoint} would overwrite the checkpoint resumed ${checkpoint}\n`,
    );
    assert.deepEqual(fs.readFileSync(checkpoint), saved);
    const resumed = await nstAsync(
      stylize(['--resume', checkpoint, '--checkpoint', checkpoint], { dir, out: 'b.png' }).args,
    );
    assert.equal(resumed.code, 0, resumed.stderr);
  });
});

// A FIFO as an image is read (test/cli/pipes.test.ts); as a checkpoint or a manifest it is refused.
describe('devices as inputs, FIFOs as checkpoints and manifests, are refused at once', () => {
  const fifo = path.join(newDir(), 'fifo.png');
  spawnSync('mkfifo', [fifo]);
  const manifestDir = newDir();
  const cases: [string, string[], RegExp][] = [
    [
      '/dev/zero as the content image',
      stylize([], { content: '/dev/zero' }).args,
      /content image \/dev\/zero: is a character device, not a regular file/,
    ],
    [
      '/dev/urandom as the style image',
      stylize([], { style: '/dev/urandom' }).args,
      /style image \/dev\/urandom: is a character device/,
    ],
    [
      '/dev/zero as the checkpoint to resume',
      stylize(['--resume', '/dev/zero']).args,
      /checkpoint \/dev\/zero: is a character device/,
    ],
    ['a FIFO as the checkpoint to resume', stylize(['--resume', fifo]).args, literal(`checkpoint ${fifo}: is a FIFO`)],
    [
      '/dev/zero as the manifest',
      batch(['--manifest', '/dev/zero', '--out-dir', manifestDir]),
      /manifest \/dev\/zero: is a character device/,
    ],
    [
      'a FIFO as the manifest',
      batch(['--manifest', fifo, '--out-dir', manifestDir]),
      literal(`manifest ${fifo}: is a FIFO`),
    ],
  ];
  for (const [name, args, message] of cases) {
    const dir = args.includes('--out-dir') ? manifestDir : path.dirname(args[args.indexOf('-o') + 1]!);
    const result = later(args);
    it(name, async () => assertRefused(await result(), message, { dir }));
  }
});

/** A checkpoint file: the magic, the header's length, the header (JSON text as given), then `data`. */
function checkpointFile(header: string, data = Buffer.alloc(0)): string {
  const json = Buffer.from(header, 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write('NSTCKPT2', 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  return input(`crafted-${crafted++}.ckpt`, Buffer.concat([prefix, json, data]));
}
let crafted = 0;

describe('crafted checkpoints: exit 2 naming the file and the field', () => {
  const settings = resolveRunSettings({ size: 32, iterations: 2 }, 1);
  const valid = {
    settings,
    inputs: 'x',
    scale: 0,
    iteration: 1,
    evaluations: 2,
    bestCost: 1,
    converged: false,
    recentBest: [],
    optimizerValues: { t: 1 },
    tensors: [
      { name: 'image', shape: [1, 24, 32, 3], offset: 0 },
      { name: 'bestImage', shape: [1, 24, 32, 3], offset: 0 },
    ],
  };
  const data = Buffer.alloc(24 * 32 * 3 * 4);
  const headers: [string, string, string][] = [
    ['a JSON null header', 'null', 'field header must be a JSON object'],
    [
      'a header without settings',
      JSON.stringify({ ...valid, settings: undefined }),
      'field settings must be an object',
    ],
    [
      'a setting out of range',
      JSON.stringify({ ...valid, settings: { ...settings, alpha: -1 } }),
      'field settings.alpha must be a non-negative number',
    ],
    ['tensors not a list', JSON.stringify({ ...valid, tensors: {} }), 'field tensors must be a list'],
    [
      'a negative shape',
      JSON.stringify({ ...valid, tensors: [{ name: 'image', shape: [1, -24, 32, 3], offset: 0 }] }),
      'field tensors[0].shape must be a list of positive integers',
    ],
    ['a scale past the last', JSON.stringify({ ...valid, scale: 3 }), 'field scale must be less than the 1 scales'],
    [
      'an iteration as text',
      JSON.stringify({ ...valid, iteration: '1' }),
      'field iteration must be a non-negative integer',
    ],
    [
      'an image of the wrong size',
      JSON.stringify({ ...valid, tensors: [{ name: 'image', shape: [1, 2, 2, 3], offset: 0 }, valid.tensors[1]] }),
      'field tensors must hold an image of shape [1, h, w, 3] with its longest side 32 px',
    ],
    [
      'L-BFGS pairs without their tensors',
      JSON.stringify({ ...valid, optimizerValues: { pairs: 2 } }),
      'field optimizerValues.pairs says 2 pairs, pair 0 is missing',
    ],
    [
      "L-BFGS's ring starting at half a row",
      JSON.stringify({ ...valid, optimizerValues: { pairsOffset: 0.5 } }),
      'field optimizerValues.pairsOffset must be an integer from 0 to pairs − 1',
    ],
  ];
  for (const [name, header, problem] of headers) {
    const file = checkpointFile(header, data);
    const command = stylize(['--resume', file]);
    const result = later(command.args);
    it(name, async () => assertRefused(await result(), literal(`checkpoint ${file}: ${problem}`), command));
  }
});

describe('a batch is planned and checked whole before its first job', () => {
  const dir = newDir();
  const photos = path.join(dir, 'photos');
  fs.mkdirSync(photos);
  input('a.png', photo, photos);
  input('b.png', photo, photos);
  const style = input('style.png', painting, dir);
  const refused: [string, (out: string) => string[], (out: string) => RegExp][] = [
    [
      '--name with an unknown extension',
      (out) => batch(['--content', photos, '--style', style, '--out-dir', out, '--name', '{content}.jxl']),
      (out) => literal(`output image ${path.join(out, 'a.jxl')}: unknown extension .jxl`),
    ],
    [
      'a manifest output with an unknown extension in its second job',
      (out) => [
        ...batch(['--out-dir', out]),
        '--manifest',
        input('bad.csv', 'content,style,output\nphotos/a.png,style.png,a.png\nphotos/b.png,style.png,b.gif\n', dir),
      ],
      (out) => literal(`output image ${path.join(out, 'b.gif')}: unknown extension .gif`),
    ],
    [
      '--out-dir an existing file',
      () => batch(['--content', photos, '--style', style, '--out-dir', style]),
      () => literal(`--out-dir ${style}: is a file, not a directory`),
    ],
  ];
  for (const [name, args, message] of refused) {
    const out = path.join(newDir(), 'out');
    const result = later(args(out));
    it(`${name}: exit 2, one line, no job run, no folder made`, async () => {
      assertRefused(await result(), message(out), { dir: path.dirname(out) });
    });
  }

  // A JSON manifest named .txt, with an absolute output outside --out-dir.
  const elsewhere = path.join(newDir(), 'result.png');
  const manifest = input(
    'jobs.txt',
    JSON.stringify([{ content: 'photos/a.png', style: 'style.png', output: elsewhere }]),
    dir,
  );
  const outDir = path.join(newDir(), 'out');
  const result = later(batch(['--manifest', manifest, '--out-dir', outDir]));
  it('a JSON manifest is read as JSON whatever its name; an absolute output stays absolute', async () => {
    const { code, stderr } = await result();
    assert.equal(code, 0, stderr);
    assert.ok(await readsWhole(elsewhere), 'the output at its absolute path');
    assert.deepEqual(fs.readdirSync(outDir), []);
  });
});

describe('truncated images and the pixel limit: refused before decoding, or read in bounded time', () => {
  const row = (width: number, rgb: number[]) => Array.from({ length: width }, () => rgb).flat();
  const png = (name: string, width: number, height: number, rows: number) =>
    input(
      name,
      encodePng({ width, height, bitDepth: 8, colorType: 2, rows: Array(rows).fill(row(width, [90, 120, 30])) }),
    );
  const oneRow = png('one-row.png', 3000, 3000, 1);
  const next = lcg(7);
  const noise = Array.from({ length: 100 }, () => Array.from({ length: 9000 }, () => Math.floor(next() * 256)));
  const noisy = input('noisy.png', encodePng({ width: 3000, height: 3000, bitDepth: 8, colorType: 2, rows: noise }));
  // 109 bytes claiming 10000×10000 px: one deflated row.
  const tiny = png('tiny.png', 10000, 10000, 0);
  const jpegClaim = input(
    'claim.jpg',
    (() => {
      const small = Buffer.from(files.jpeg);
      const sof = small.indexOf(Buffer.from([0xff, 0xc0]));
      small.writeUInt16BE(9999, sof + 5);
      small.writeUInt16BE(9999, sof + 7);
      return small;
    })(),
  );
  const cut = (name: string, bytes: Buffer, keep: number) =>
    input(name, bytes.subarray(0, Math.floor(bytes.length * keep)));
  const cutBmp = cut('cut.bmp', files.bmp, 0.6);
  const cutTiff = cut('cut.tiff', files.tiff, 0.6);
  const raised = ['--max-input-pixels', '100000000'];
  refusals([
    [
      'a PNG claiming 3000×3000 px with one row of data',
      stylize([], { content: oneRow }),
      () =>
        literal(
          `content image ${oneRow}: truncated PNG file (36 bytes of image data, where 3000×3000 px need at least 26166)`,
        ),
    ],
    [
      'a PNG claiming 3000×3000 px with 100 rows of noise: more data than that, still not all',
      stylize([], { content: noisy }),
      () =>
        literal(
          `content image ${noisy}: truncated PNG file (its image data holds 900100 of the 27003000 bytes 3000×3000 px need)`,
        ),
    ],
    [
      'a 109-byte PNG claiming 10000×10000 px, under a raised limit',
      stylize(raised, { content: tiny }),
      () => literal(`content image ${tiny}: truncated PNG file (`),
    ],
    [
      'a small JPEG claiming 9999×9999 px, under a raised limit',
      stylize(raised, { style: jpegClaim }),
      () => literal(`style image ${jpegClaim}: truncated JPEG file (`),
    ],
    [
      'a BMP cut short',
      stylize([], { content: cutBmp }),
      () => literal(`content image ${cutBmp}: truncated BMP file (`),
    ],
    [
      'a TIFF cut short',
      stylize([], { content: cutTiff }),
      () => literal(`content image ${cutTiff}: truncated TIFF file (`),
    ],
  ]);

  const atLimit = stylize(FIRST_LAYER_ONLY, { content: png('25mp.png', 5000, 5000, 5000) });
  const result = later(atLimit.args);
  it('a 5000×5000 PNG, at the default limit: shrunk as it is read, the run ends in seconds', async () => {
    const start = Date.now();
    const { code, stderr } = await result();
    assert.equal(code, 0, stderr);
    assert.ok(await readsWhole(atLimit.output));
    assert.ok(Date.now() - start < 60_000, `${Date.now() - start} ms`);
  });
});
