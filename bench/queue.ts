/**
 * The queue's throughput: the same small jobs through `nst batch` (one process, the reference) and
 * through `nst queue` with one worker (one thread, then two), one worker running two jobs at a time, and two workers, on a
 * real Redis started here. Prints, per setup, the wall time, jobs a minute, the jobs' own seconds
 * and the overhead per job: wall × slots / jobs − own seconds per job (start-up, the queue's round
 * trips, reading the inputs), with the workers already started.
 *
 *   node dist/bench/queue.js [--jobs 8] [--size 64] [--iterations 10]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRedis } from '../test/queue/redis.js';
import { IMAGES, WEIGHTS } from './common.js';
import { numberOption } from './options.js';

const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/nst');
const [jobs, size, iterations] = [numberOption('jobs', 8), numberOption('size', 64), numberOption('iterations', 10)];
const env = { ...process.env, NST_WEIGHTS: WEIGHTS };
const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);

/** A manifest of `jobs` jobs over the shared photos and paintings, each with its own output. */
function manifest(dir: string): string {
  const contents = ['tubingen.jpg', 'golden_gate.jpg', 'hoovertowernight.jpg'];
  const styles = ['starry_night.jpg', 'the_scream.jpg', 'shipwreck.jpg', 'woman-with-hat-matisse.jpg'];
  const rows = Array.from({ length: jobs }, (_, i) => {
    const [c, s] = [contents[i % contents.length]!, styles[i % styles.length]!];
    return `${path.join(IMAGES, c)},${path.join(IMAGES, s)},${i + 1}.png`;
  });
  const file = path.join(dir, 'jobs.csv');
  fs.writeFileSync(file, ['content,style,output', ...rows].join('\n') + '\n');
  return file;
}

const runFlags = ['--size', String(size), '--iterations', String(iterations), '--converge', '0'];

interface Row {
  setup: string;
  slots: number;
  wall: number;
  own: number;
}

function batchRow(dir: string, file: string): Row {
  const start = Date.now();
  const run = spawnSync(
    process.execPath,
    [BIN, 'batch', '--manifest', file, '--out-dir', path.join(dir, 'batch'), ...runFlags, '--threads', '2', '--json'],
    { env, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(run.stderr);
  const done = lines(run.stdout).filter((e) => e['event'] === 'done');
  return {
    setup: 'nst batch (reference)',
    slots: 1,
    wall: (Date.now() - start) / 1000,
    own: done.reduce((a, e) => a + e['elapsedMs'] / 1000, 0),
  };
}

function startWorker(redis: string, queue: string, extra: string[]): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    [BIN, 'queue', 'worker', '--redis', redis, '--queue', queue, '--json', ...extra],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (lines(out).some((e) => e['event'] === 'ready')) resolve();
    }),
  );
  return { child, ready };
}

async function queueRow(redis: string, dir: string, file: string, setup: string, workers: string[][]): Promise<Row> {
  const queue = setup.replace(/\W+/g, '-');
  const started = workers.map((extra) => startWorker(redis, queue, extra));
  await Promise.all(started.map((w) => w.ready));
  const start = Date.now();
  const out = path.join(dir, queue);
  const run = spawnSync(
    process.execPath,
    [
      BIN,
      'queue',
      'submit',
      '--manifest',
      file,
      '--out-dir',
      out,
      ...runFlags,
      '--redis',
      redis,
      '--queue',
      queue,
      '--wait',
      '--json',
    ],
    { env, encoding: 'utf8' },
  );
  const wall = (Date.now() - start) / 1000;
  for (const w of started) w.child.kill('SIGTERM');
  await Promise.all(started.map((w) => new Promise((resolve) => w.child.once('exit', resolve))));
  if (run.status !== 0) throw new Error(run.stderr);
  const ended = lines(run.stdout).filter((e) => e['event'] === 'ended');
  const slots = workers.reduce((a, extra) => a + Number(extra[extra.indexOf('--concurrency') + 1] ?? 1), 0);
  return { setup, slots, wall, own: ended.reduce((a, e) => a + e['result']['seconds'], 0) };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-queue-bench-'));
const redis = await startRedis();
try {
  const file = manifest(dir);
  const rows = [
    batchRow(dir, file),
    await queueRow(redis.url, dir, file, '1 worker, 1 thread', [['--threads', '1', '--concurrency', '1']]),
    await queueRow(redis.url, dir, file, '1 worker, 2 threads', [['--threads', '2', '--concurrency', '1']]),
    await queueRow(redis.url, dir, file, '1 worker, --concurrency 2, 1 thread each', [
      ['--threads', '1', '--concurrency', '2'],
    ]),
    await queueRow(redis.url, dir, file, '2 workers, 1 thread each', [
      ['--threads', '1', '--concurrency', '1'],
      ['--threads', '1', '--concurrency', '1'],
    ]),
  ];
  console.log(`${jobs} jobs, ${size} px, ${iterations} iterations each, ${os.availableParallelism()} cores`);
  console.log('| setup | wall s | jobs / min | own s / job | overhead s / job |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const overhead = (r.wall * r.slots) / jobs - r.own / jobs;
    console.log(
      `| ${r.setup} | ${r.wall.toFixed(1)} | ${((60 * jobs) / r.wall).toFixed(1)} | ${(r.own / jobs).toFixed(2)} | ${overhead.toFixed(2)} |`,
    );
  }
} finally {
  await redis.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
