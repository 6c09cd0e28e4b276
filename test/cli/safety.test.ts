/**
 * The command as a careless or hostile user runs it: outputs that would overwrite inputs,
 * devices and FIFOs as inputs, a full stdout, signals at awkward moments, truncated and crafted
 * files, batches that are wrong from the start, and the small things (flags, terminals, files).
 * Every run goes through bin/nst; every image is made here, small.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readImage } from '../../src/io/images.js';
import { nstAsync, WEIGHTS, type Run } from '../helpers.js';
import {
  assertRefused,
  FIRST_LAYER_ONLY,
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
