import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { outputName, parseCsv, planJobs } from '../../src/cli/batch.js';
import { Events } from '../../src/jobs/events.js';
import { addRunOptions, givenFlags, runFlags, type RunFlags } from '../../src/cli/flags.js';
import type { Settings } from '../../src/core/settings.js';
import { checkJob, runJob, type JobContext } from '../../src/jobs/job.js';
import { createEngine } from '../../src/engine/factory.js';
import { writeImage } from '../../src/io/images.js';
import { Command } from 'commander';
import { Jimp } from 'jimp';
import { cellOrigin, CELL } from '../../src/cli/view/sheet.js';
import { BIN, nst, randomArray, tempDir, useWasm, WEIGHTS } from '../helpers.js';

/** The run flags of a command line with these flags given, as the command resolves them. */
function flagsGiven(args: string[]): { flags: RunFlags; given: Partial<Settings> } {
  const given = givenFlags(addRunOptions(new Command('x')).parse(args, { from: 'user' }));
  return { flags: runFlags(given), given };
}

/** Writes a generated picture: smooth colour ramps plus seeded noise, values in [0, 1]. */
async function picture(file: string, h: number, w: number, seed: number): Promise<void> {
  const noise = randomArray(h * w * 3, seed, 0, 0.3);
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        const k = (y * w + x) * 3 + c;
        data[k] = 0.6 * (c === 0 ? x / w : c === 1 ? y / h : (x + y) / (w + h)) ** (1 + (seed % 3)) + noise[k]!;
      }
  const image = tf.tensor3d(data, [h, w, 3]);
  await writeImage(file, image);
  image.dispose();
}

/** Parses NDJSON and checks the fields every event has. */
function parseEvents(stdout: string): Record<string, any>[] {
  const events = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, any>);
  for (const e of events) {
    assert.equal(typeof e['event'], 'string');
    assert.ok(!Number.isNaN(Date.parse(e['time'])), `time of ${JSON.stringify(e)}`);
  }
  return events;
}

describe('nst batch and --json', () => {
  let dir: string;
  before(async () => {
    await useWasm();
    dir = tempDir();
    fs.mkdirSync(path.join(dir, 'photos'));
    await picture(path.join(dir, 'photos', 'a.png'), 40, 32, 1);
    await picture(path.join(dir, 'photos', 'c.png'), 32, 48, 2);
    fs.writeFileSync(path.join(dir, 'photos', 'b.png'), 'not a picture'); // the broken one, between the two
    await picture(path.join(dir, 'style.png'), 48, 48, 4);
  });
  after(() => fs.rmSync(dir, { recursive: true }));

  it('runs every content with the style, goes past a broken file, reports it and exits 1, with a contact sheet', async () => {
    const out = path.join(dir, 'out');
    const args = [
      'batch',
      '--content',
      path.join(dir, 'photos'),
      '--style',
      path.join(dir, 'style.png'),
      '--out-dir',
      out,
      '--size',
      '32',
      '--iterations',
      '3',
    ];
    const sheetFile = path.join(dir, 'sheet.png');
    const run = nst([...args, '--json', '--step', '1', '--contact-sheet', sheetFile]);
    assert.equal(run.code, 1, run.stderr);
    // The contact sheet: a header row and column, three contents (b.png failed: a grey cell), one style.
    const sheet = await Jimp.read(sheetFile);
    assert.deepEqual([sheet.width, sheet.height], [cellOrigin(0, 2)[0], cellOrigin(4, 0)[1]]);
    const [gx, gy] = cellOrigin(2, 1);
    assert.equal(sheet.getPixelColor(gx + CELL / 2, gy + CELL / 2) >>> 8, 0xcccccc);
    fs.rmSync(sheetFile);
    assert.equal(run.stderr, 'nst: 1 of 3 jobs failed\n');
    const events = parseEvents(run.stdout);
    // --backend auto: ONNX Runtime, which installs everywhere and is the fastest engine here.
    assert.deepEqual(events[0], { ...events[0], event: 'batch', jobs: 3, backend: 'onnx' });
    const summary = events[events.length - 1]!;
    assert.equal(summary['event'], 'summary');
    assert.equal(summary['done'], 2);
    assert.equal(summary['skipped'], 0);
    assert.equal(summary['failed'].length, 1);
    assert.equal(summary['failed'][0].job, 2);
    assert.equal(summary['failed'][0].code, 'input');
    assert.match(summary['failed'][0].message, /b\.png: not an image/);
    assert.deepEqual(fs.readdirSync(out).sort(), ['a-style.png', 'c-style.png']);
    // Per job: start (with the resolved settings), progress at every iteration, done.
    const job1 = events.filter((e) => e['job'] === 1).map((e) => e['event']);
    assert.deepEqual(job1, ['start', 'progress', 'progress', 'progress', 'progress', 'done']);
    const start = events.find((e) => e['event'] === 'start')!;
    assert.equal(start['settings'].size, 32);
    assert.deepEqual(start['styles'], [path.join(dir, 'style.png')]);
    const progress = events.find((e) => e['event'] === 'progress')!;
    for (const key of ['total', 'content', 'style', 'variation']) assert.equal(typeof progress['costs'][key], 'number');
    for (const key of ['iteration', 'iterations', 'bestCost', 'evaluations', 'elapsedMs'])
      assert.equal(typeof progress[key], 'number');
    const done = events.find((e) => e['event'] === 'done' && e['job'] === 3)!;
    assert.equal(done['output'], path.join(out, 'c-style.png'));
    assert.ok(done['bestCost'] > 0);
    assert.deepEqual(
      events.filter((e) => e['event'] === 'error').map((e) => e['job']),
      [2],
    );

    // Again: outputs that exist fail without --skip-existing or --force …
    const again = nst([...args]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /batch: 0 done, 0 skipped, 3 failed/);
    assert.match(again.stderr, /a-style\.png exists \(use --force to overwrite it or --skip-existing\)/);
    // … are skipped with --skip-existing, and --fail-fast stops at the broken file.
    const skip = nst([...args, '--skip-existing', '--fail-fast']);
    assert.equal(skip.code, 1);
    assert.match(skip.stderr, /\[1\/3\] .*a\.png × .*style\.png → .*a-style\.png: skipped \(exists\)/);
    assert.match(skip.stderr, /batch: 0 done, 1 skipped, 1 failed, 1 not run/);
    assert.match(skip.stderr, /failed \[2\] .*b\.png × .*style\.png: content image .*b\.png: not an image/);
  });

  it('takes masks from a manifest: files relative to it, a switch as yes or no', () => {
    const out = path.join(dir, 'masks-out');
    const manifest = path.join(dir, 'masks.csv');
    fs.writeFileSync(
      manifest,
      'content,style,mask,invert-mask,style-masks\nphotos/a.png,style.png,photos/c.png,yes,\nphotos/c.png,style.png,,no,photos/a.png\n',
    );
    const args = ['batch', '--manifest', manifest, '--out-dir', out, '--size', '32', '--iterations', '2', '--json'];
    const run = nst(args);
    assert.equal(run.code, 0, run.stderr);
    const starts = parseEvents(run.stdout).filter((e) => e['event'] === 'start');
    assert.deepEqual(
      starts.map((e) => [e['settings'].mask, e['settings'].invertMask, e['settings'].styleMasks]),
      [
        ['image', true, null],
        [null, false, ['image']],
      ],
    );
    fs.writeFileSync(manifest, 'content,style,mask,invert-mask\nphotos/a.png,style.png,photos/c.png,maybe\n');
    const bad = nst(args);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^nst: manifest .*masks\.csv: job 1: invert-mask must be yes or no\n$/);
  });

  it('follows a CSV manifest with per-job options and output names', () => {
    const out = path.join(dir, 'manifest-out');
    const manifest = path.join(dir, 'jobs.csv');
    fs.writeFileSync(
      manifest,
      'content,style,output,alpha,style-scale,preset\nphotos/a.png,style.png,first.jpg,1e3,,seed\nphotos/c.png,"style.png;photos/a.png",,,1.5,\n',
    );
    const run = nst([
      'batch',
      '--manifest',
      manifest,
      '--out-dir',
      out,
      '--size',
      '32',
      '--iterations',
      '2',
      '--name',
      '{index}-{content}-{style}.png',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(out).sort(), ['2-c-style+a.png', 'first.jpg']);
    const starts = parseEvents(run.stdout).filter((e) => e['event'] === 'start');
    assert.equal(starts[0]!['settings'].alpha, 1000);
    assert.equal(starts[0]!['settings'].styleScale, 1);
    assert.equal(starts[1]!['settings'].alpha, 100, 'the default');
    assert.equal(starts[1]!['settings'].styleScale, 1.5);
    assert.deepEqual(starts[1]!['settings'].styleWeights, [0.5, 0.5]);
    // Row 1's preset fills in what neither the row nor the command line gives: --iterations 2 stays.
    assert.deepEqual(
      [starts[0]!['preset'], starts[0]!['settings'].optimizer, starts[0]!['settings'].iterations],
      ['seed', 'adam', [2]],
    );
    assert.deepEqual([starts[1]!['preset'], starts[1]!['settings'].optimizer], [null, 'lbfgs']);

    fs.writeFileSync(manifest, 'content,style,alpha\nphotos/a.png,style.png,-1\n');
    const bad = nst(['batch', '--manifest', manifest, '--out-dir', out]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /^nst: manifest .*jobs\.csv: job 1: option '--alpha <n>' argument '-1' is invalid\. alpha must be a non-negative number\n$/,
    );
  });

  it('three shards run each job of a manifest once and write what one run writes', () => {
    const manifest = path.join(dir, 'shards.csv');
    const rows = [
      'photos/a.png,style.png',
      'photos/c.png,style.png',
      'style.png,photos/a.png',
      'photos/a.png,photos/c.png',
    ];
    const alphas = ['1', '10', '100', '1000'];
    const lines = alphas.flatMap((alpha) => rows.map((row) => `${row},${alpha}`)).slice(0, 7);
    fs.writeFileSync(manifest, ['content,style,alpha', ...lines].join('\n') + '\n');
    const batch = (out: string, shard: string[], env: NodeJS.ProcessEnv = {}) => {
      const args = ['batch', '--manifest', manifest, '--out-dir', out, '--name', '{index}-{content}-{style}.png'];
      const run = nst([...args, '--size', '32', '--iterations', '2', '--json', ...shard], env);
      assert.equal(run.code, 0, run.stderr);
      return parseEvents(run.stdout);
    };
    const [single, sharded] = [path.join(dir, 'single'), path.join(dir, 'sharded')];
    batch(single, []);
    const runs = [
      batch(sharded, ['--shard', '1/3']),
      batch(sharded, ['--shard', '2/3']),
      batch(sharded, ['--shard', 'auto', '--shards', '3'], { JOB_COMPLETION_INDEX: '2' }),
    ];
    const jobsOf = (events: Record<string, any>[]) => events.filter((e) => e['event'] === 'start').map((e) => e['job']);
    assert.deepEqual(
      runs.map(jobsOf),
      [
        [1, 4, 7],
        [2, 5],
        [3, 6],
      ],
      "every third job from the shard's own",
    );
    assert.deepEqual(
      runs.map((events) => [events[0]!['jobs'], events[0]!['planned'], events[0]!['shard']]),
      [
        [3, 7, { index: 1, count: 3 }],
        [2, 7, { index: 2, count: 3 }],
        [2, 7, { index: 3, count: 3 }],
      ],
    );
    const files = fs.readdirSync(single).sort();
    assert.equal(files.length, 7);
    assert.deepEqual(fs.readdirSync(sharded).sort(), files);
    for (const file of files)
      assert.ok(fs.readFileSync(path.join(sharded, file)).equals(fs.readFileSync(path.join(single, file))), file);

    const refused = (shard: string[], env: NodeJS.ProcessEnv, message: RegExp) => {
      const run = nst(['batch', '--manifest', manifest, '--out-dir', path.join(dir, 'none'), ...shard], env);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.ok(!fs.existsSync(path.join(dir, 'none')));
    };
    refused(['--shard', '4/3'], {}, /^nst: --shard 4\/3: must be I\/N with 1 ≤ I ≤ N/);
    refused(
      ['--shard', 'auto', '--shards', '3'],
      {},
      /^nst: --shard auto: neither JOB_COMPLETION_INDEX .* nor SLURM_ARRAY_TASK_ID/,
    );
    refused(
      ['--shard', 'auto'],
      { JOB_COMPLETION_INDEX: '0' },
      /^nst: --shard auto: give the number of shards with --shards N\n$/,
    );
    const slurm = { SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_MIN: '5' };
    refused(
      ['--shard', 'auto', '--shards', '3'],
      slurm,
      /^nst: --shard auto: SLURM_ARRAY_TASK_ID 9 is shard 5, outside 1…3/,
    );
  });

  it('stylize --json: start, progress every --step, done; an error event for bad input', () => {
    const out = path.join(dir, 'single.png');
    const run = nst([
      'stylize',
      path.join(dir, 'photos', 'a.png'),
      path.join(dir, 'style.png'),
      '-o',
      out,
      '--size',
      '32',
      '--iterations',
      '4',
      '--step',
      '2',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const events = parseEvents(run.stdout);
    assert.deepEqual(
      events.map((e) => e['event']),
      ['start', 'progress', 'progress', 'progress', 'done'],
    );
    assert.deepEqual(
      events.filter((e) => e['event'] === 'progress').map((e) => e['iteration']),
      [0, 2, 4],
    );
    assert.equal(events[0]!['backend'], 'onnx');
    assert.equal(events[4]!['output'], out);
    assert.equal(events[4]!['interrupted'], false);
    assert.ok(!('job' in events[0]!));

    const bad = nst([
      'stylize',
      path.join(dir, 'photos', 'b.png'),
      path.join(dir, 'style.png'),
      '-o',
      path.join(dir, 'x.png'),
      '--json',
    ]);
    assert.equal(bad.code, 2);
    const [error] = parseEvents(bad.stdout);
    assert.equal(error!['event'], 'error');
    assert.equal(error!['code'], 'input');
    assert.match(error!['message'], /b\.png: not an image/);
    assert.match(bad.stderr, /^nst: content image .*b\.png: not an image/);
  });

  it('--json into a reader that goes away: no crash, the image is still written', async () => {
    const out = path.join(dir, 'piped.png');
    const args = [
      BIN,
      'stylize',
      path.join(dir, 'photos', 'a.png'),
      path.join(dir, 'style.png'),
      '-o',
      out,
      '--size',
      '32',
      '--iterations',
      '6',
      '--step',
      '1',
      '--json',
    ];
    const child = spawn(process.execPath, args, { env: { ...process.env, NST_WEIGHTS: WEIGHTS } });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.once('data', () => child.stdout.destroy()); // like `| head -1`
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.ok(fs.existsSync(out));
  });

  it("a batch builds one session per working size and each style's targets once", async () => {
    const engine = await createEngine({ engine: 'onnx', weights: WEIGHTS });
    const context: JobContext = {
      engine,
      signal: new AbortController().signal,
      events: new Events(false),
      memoryCheck: false,
    };
    const jobs = planJobs({
      contents: [path.join(dir, 'photos', 'a.png'), path.join(dir, 'photos', 'c.png')],
      styles: [path.join(dir, 'style.png')],
      outDir: dir,
      name: 'lib-{content}.png',
      ...flagsGiven(['--size', '32', '--iterations', '1']),
    });
    for (const job of jobs) await runJob(job, checkJob(job), context);
    // a.png (40×32, h × w) and c.png (32×48) work at 32×26 and 21×32: one evaluation session each.
    assert.equal(engine.cached.models, 2);
    assert.equal(engine.cached.styleTargets, 1, 'one style at one size: one set of targets');
    engine.dispose();
  });

  it('parses CSV and output names', () => {
    assert.deepEqual(parseCsv('a,b\r\n"x, y","say ""hi"""\n\n1,\n'), [
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['1', ''],
    ]);
    assert.equal(outputName('{content}-{style}.png', '/p/photo.jpg', ['/s/a.jpg', '/s/b.png'], 3), 'photo-a+b.png');
    assert.throws(() => outputName('{name}.png', 'a.jpg', ['b.jpg'], 1), /unknown placeholder \{name\}/);
  });
});
