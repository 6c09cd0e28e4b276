import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, nst, tempDir, WEIGHTS } from '../helpers.js';
import { contentFile, FIRST_LAYER_ONLY, styleFile } from './runs.js';

/** `nst args` with `input` on standard input; stdout as bytes. */
function piped(args: string[], input: Buffer | string = '', env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [BIN, ...args], {
    input,
    env: { ...process.env, NST_WEIGHTS: WEIGHTS, ...env },
    timeout: 120_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr.toString('utf8') };
}

/** The temporary folders of -o - in `dir`. */
const ours = (dir: string) => fs.readdirSync(dir).filter((name) => name.startsWith('nst-stdout-'));

const PNG = Buffer.from('89504e470d0a1a0a', 'hex');

describe('pipes: - for standard input and output, FIFOs, link loops', () => {
  let dir: string;
  let reference: Buffer;
  const quick = ['--size', '32', '--iterations', '2', ...FIRST_LAYER_ONLY];
  before(() => {
    dir = tempDir();
    const out = path.join(dir, 'reference.png');
    const run = nst(['stylize', contentFile, styleFile, '-o', out, ...quick, '-q']);
    assert.equal(run.code, 0, run.stderr);
    reference = fs.readFileSync(out);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the content from standard input, writes the image to standard output (PNG, --format webp) and to .avif files', () => {
    const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const run = piped(['stylize', '-', styleFile, '-o', '-', ...quick, '--step', '1'], fs.readFileSync(contentFile), {
      TMPDIR: tmp,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.subarray(0, 8).equals(PNG), 'a PNG on stdout');
    assert.ok(run.stdout.equals(reference), 'the very image the files give');
    assert.match(run.stderr, /^Cost at iteration 2: /m);
    assert.match(run.stderr, /wrote standard output \(32×24\)/);
    assert.deepEqual(ours(tmp), [], 'no temporary file left');
    const webp = piped(['stylize', contentFile, styleFile, '-o', '-', '--format', 'webp', ...quick, '-q']);
    assert.equal(webp.code, 0, webp.stderr);
    assert.deepEqual([webp.stdout.toString('latin1', 0, 4), webp.stdout.toString('latin1', 8, 12)], ['RIFF', 'WEBP']);
    const avif = path.join(dir, 'out.avif');
    const file = piped(['stylize', contentFile, styleFile, '-o', avif, ...quick, '-q']);
    assert.equal(file.code, 0, file.stderr);
    assert.equal(fs.readFileSync(avif).toString('latin1', 4, 12), 'ftypavif', '-o out.avif');
  });

  it('reads a FIFO (a process substitution) once its writer comes', async () => {
    const fifo = path.join(dir, 'style.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const out = path.join(dir, 'fifo.png');
    const child = spawn(process.execPath, [BIN, 'stylize', contentFile, fifo, '-o', out, ...quick, '-q'], {
      env: { ...process.env, NST_WEIGHTS: WEIGHTS },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await new Promise((resolve) => setTimeout(resolve, 500)); // it waits for the writer
    fs.writeFileSync(fifo, fs.readFileSync(styleFile)); // blocks until the reader opens
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.ok(fs.readFileSync(out).equals(reference));
  });

  it('ends at Ctrl-C while a FIFO has no writer, leaving nothing behind', async () => {
    const fifo = path.join(dir, 'never.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const child = spawn(process.execPath, [BIN, 'stylize', fifo, styleFile, '-o', '-', ...quick], {
      env: { ...process.env, NST_WEIGHTS: WEIGHTS, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Waiting for the FIFO's writer, once the temporary folder of -o - is made.
    for (let t = 0; ours(tmp).length === 0 && t < 200; t++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(ours(tmp).length, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 130);
    assert.ok(Date.now() - started < 5000, 'at once');
    assert.deepEqual(ours(tmp), []);
  });

  it('refuses a loop of links, a device, and flags that need stdout or a folder, each in one line', () => {
    const [a, b] = [path.join(dir, 'a.png'), path.join(dir, 'b.png')];
    fs.symlinkSync(b, a);
    fs.symlinkSync(a, b);
    const out = path.join(dir, 'refused.png');
    const cases: [string[], RegExp][] = [
      [['stylize', a, styleFile, '-o', out], /^nst: content image .*a\.png: is a loop of symbolic links\n$/],
      [
        ['stylize', contentFile, '/dev/zero', '-o', out],
        /^nst: style image \/dev\/zero: is a character device, not a regular file\n$/,
      ],
      [
        ['stylize', contentFile, styleFile, '-o', '-', '--json'],
        /^nst: -o - writes the image to standard output, where --json writes its events: use one\n$/,
      ],
      [
        ['stylize', contentFile, styleFile, '-o', '-', '--save-every', '1'],
        /^nst: --save-every writes snapshots beside the output: give -o a file, not -\n$/,
      ],
      [
        ['stylize', contentFile, styleFile, '-o', out, '--format', 'png'],
        /^nst: --format png: goes with -o - \(a file's format is its extension\)\n$/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = piped([...args, ...quick]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      // With --json the refusal is an error event on stdout, as every error is there.
      const events = args.includes('--json') ? [JSON.parse(run.stdout.toString())['event']] : [];
      assert.equal(run.stdout.length > 0, events.length > 0, run.stdout.toString());
      assert.deepEqual(events, args.includes('--json') ? ['error'] : []);
      assert.ok(!fs.existsSync(out));
    }
  });

  it('nst batch --step prints each job’s cost lines, prefixed with the job', () => {
    const out = path.join(dir, 'batch');
    const run = nst([
      'batch',
      '--content',
      contentFile,
      '--style',
      styleFile,
      '--style',
      contentFile,
      '--out-dir',
      out,
      ...quick,
      '--step',
      '1',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((line) => line.replace(/: .*/, '')),
      [
        '[1/2] Cost at iteration 0',
        '[1/2] Cost at iteration 1',
        '[1/2] Cost at iteration 2',
        '[2/2] Cost at iteration 0',
        '[2/2] Cost at iteration 1',
        '[2/2] Cost at iteration 2',
      ],
    );
  });
});
