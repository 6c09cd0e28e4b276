/**
 * `nst queue` with a real Redis: workers that run each job once, survive one of them being
 * killed (the job resumes from its checkpoint and ends as `nst stylize` ends it), failures kept
 * with their reasons, and the refusals of `submit`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, IMAGES, nst, nstAsync, tempDir, WEIGHTS } from '../helpers.js';
import { startRedis, type RedisServer } from './redis.js';

type Event = Record<string, any>;
const events = (text: string): Event[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Event);

/** A worker of the command, in its own process group (so that killing it kills its children, as a lost machine does). */
class Worker {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(redis: string, queue: string) {
    const args = ['queue', 'worker', '--redis', redis, '--queue', queue, '--threads', '1', '--json'];
    this.child = spawn(process.execPath, [BIN, ...args, '--stall-seconds', '3', '--checkpoint-every', '10'], {
      env: { ...process.env, NST_WEIGHTS: WEIGHTS },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  events(): Event[] {
    return events(this.stdout);
  }

  ready(): Promise<void> {
    return until(() => this.events().some((e) => e['event'] === 'ready'), `a worker to start: ${this.stderr}`);
  }

  /** SIGTERM as a scheduler stops it, SIGKILL as a lost machine: to the worker alone (not its children). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Whether a process of its group (the worker's children) still runs (Linux: /proc/PID/stat's state and group). */
  childrenRunning(): boolean {
    return fs.readdirSync('/proc').some((pid) => {
      if (!/^\d+$/.test(pid)) return false;
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(group) === this.child.pid && state !== 'Z';
      } catch {
        return false;
      }
    });
  }

  /** The worker and its children, gone (after the tests). */
  kill(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

async function until(ok: () => boolean, what: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let redis: RedisServer;
const workers: Worker[] = [];
const dirs: string[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const worker of workers) worker.kill();
  await redis?.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
const newDir = () => {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
};

const image = (name: string) => path.join(IMAGES, name);

describe('nst queue', { timeout: 300_000 }, () => {
  it('three workers, eight jobs, one worker killed mid-job: each job runs once and writes what nst stylize writes', async () => {
    const dir = newDir();
    const contents = ['tubingen.jpg', 'golden_gate.jpg'];
    const styles = ['starry_night.jpg', 'the_scream.jpg', 'shipwreck.jpg', 'woman-with-hat-matisse.jpg'];
    // Job 1 runs long enough to be killed after its first checkpoints; the others are short.
    const rows = contents.flatMap((c, i) =>
      styles.map((s, j) => {
        const [size, iterations] = i + j === 0 ? [64, 120] : [40, 30];
        return `${image(c)},${image(s)},${size},${iterations}`;
      }),
    );
    const manifest = path.join(dir, 'jobs.csv');
    fs.writeFileSync(manifest, ['content,style,size,iterations', ...rows].join('\n') + '\n');
    const out = path.join(dir, 'out');
    const plan = [
      '--manifest',
      manifest,
      '--out-dir',
      out,
      '--name',
      '{index}-{content}-{style}.png',
      '--converge',
      '0',
    ];

    const pool = [0, 1, 2].map(() => new Worker(redis.url, 'eight'));
    workers.push(...pool);
    await Promise.all(pool.map((w) => w.ready()));
    const submit = nstAsync(['queue', 'submit', ...plan, '--redis', redis.url, '--queue', 'eight', '--wait', '--json']);

    // The worker that took job 1, killed with its child once the job has a checkpoint.
    const first = path.join(out, '1-tubingen-starry_night.png');
    const checkpoint = path.join(out, '.1-tubingen-starry_night.png.nst-checkpoint');
    const runsFirst = (w: Worker) => w.events().some((e) => e['event'] === 'active' && e['output'] === first);
    await until(() => pool.some(runsFirst) && fs.existsSync(checkpoint), 'job 1 to checkpoint');
    const victim = pool.find(runsFirst)!;
    assert.equal(await victim.stop('SIGKILL'), null);
    // Its child, whose worker is gone, stops too rather than race the job's next owner.
    await until(() => !victim.childrenRunning(), "the killed worker's child to exit", 10_000);
    assert.ok(
      !victim.events().some((e) => e['event'] === 'completed' && e['output'] === first),
      'killed before the end',
    );

    const run = await submit;
    assert.equal(run.code, 0, run.stderr);
    const ended = events(run.stdout).filter((e) => e['event'] === 'ended');
    assert.equal(ended.length, 8);
    assert.ok(ended.every((e) => e['ok'] === true));

    // Each job completed exactly once, over all workers (the killed one included).
    const completed = pool.flatMap((w) => w.events().filter((e) => e['event'] === 'completed'));
    assert.deepEqual(completed.map((e) => e['output']).sort(), ended.map((e) => e['result']['output']).sort());
    assert.equal(new Set(completed.map((e) => e['id'])).size, 8);
    // Job 1 went on from a checkpoint of the killed worker (every 10 iterations), not from the start.
    const resumed = completed.find((e) => e['output'] === first)!;
    assert.ok(
      resumed['resumedFrom'] >= 10 && resumed['resumedFrom'] % 10 === 0,
      `resumed at ${resumed['resumedFrom']}`,
    );
    assert.equal(resumed['iterations'], 120);
    assert.ok(completed.filter((e) => e !== resumed).every((e) => e['resumedFrom'] === null));

    // Only the outputs are left: no checkpoint, no temporary file.
    const files = fs.readdirSync(out).sort();
    assert.equal(files.length, 8, files.join(' '));
    assert.ok(files.every((f) => !f.startsWith('.')));

    // The same pixels as the command's: job 1 through nst stylize, all through nst batch.
    const alone = path.join(dir, 'alone.png');
    const args = ['-o', alone, '--size', '64', '--iterations', '120', '--converge', '0', '--threads', '1', '-q'];
    const stylize = nst(['stylize', image('tubingen.jpg'), image('starry_night.jpg'), ...args]);
    assert.equal(stylize.code, 0, stylize.stderr);
    assert.ok(fs.readFileSync(alone).equals(fs.readFileSync(first)), 'job 1 as nst stylize writes it');
    const reference = path.join(dir, 'reference');
    const batch = nst(['batch', ...plan.slice(0, 2), '--out-dir', reference, ...plan.slice(4), '--threads', '1', '-q']);
    assert.equal(batch.code, 0, batch.stderr);
    for (const file of files)
      assert.ok(fs.readFileSync(path.join(reference, file)).equals(fs.readFileSync(path.join(out, file))), file);

    await Promise.all(pool.map((w) => w.stop('SIGTERM')));
  });

  it('a worker stopped by SIGTERM hands its job back with a checkpoint; status shows the next one running it', async () => {
    const dir = newDir();
    const out = path.join(dir, 'out');
    const queue = ['--redis', redis.url, '--queue', 'handback'];
    const first = new Worker(redis.url, 'handback');
    workers.push(first);
    await first.ready();
    const plan = ['--content', image('golden_gate.jpg'), '--style', image('the_scream.jpg'), '--out-dir', out];
    const run = ['--size', '64', '--iterations', '150', '--converge', '0'];
    const submitted = nst(['queue', 'submit', ...plan, ...run, ...queue, '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const checkpoint = path.join(out, '.golden_gate-the_scream.png.nst-checkpoint');
    await until(() => fs.existsSync(checkpoint), 'a checkpoint');
    assert.equal(await first.stop('SIGTERM'), 0, first.stderr);
    assert.ok(!first.events().some((e) => e['event'] === 'completed' || e['event'] === 'failed'));
    const waiting = JSON.parse(nst(['queue', 'status', ...queue, '--json']).stdout) as Event;
    assert.deepEqual(waiting['counts'], { waiting: 1, active: 0, delayed: 0, completed: 0, failed: 0 });
    assert.ok(fs.existsSync(checkpoint), 'the checkpoint stays for the next worker');

    const second = new Worker(redis.url, 'handback');
    workers.push(second);
    await second.ready();
    await until(() => second.events().some((e) => e['event'] === 'progress'), 'progress');
    const status = nst(['queue', 'status', ...queue]);
    assert.match(
      status.stdout,
      /: 0 waiting, 1 running, .*\n  running \[1\] .*golden_gate\.jpg × .*the_scream\.jpg → .*golden_gate-the_scream\.png: iteration \d+\/150, best cost \d\.\d{3}e\+\d+, .* left, resumed at \d+\n$/,
    );
    await until(() => second.events().some((e) => e['event'] === 'completed'), 'the job to complete');
    const done = second.events().find((e) => e['event'] === 'completed')!;
    assert.ok(done['resumedFrom'] > 0 && done['iterations'] === 150, JSON.stringify(done));
    assert.deepEqual(fs.readdirSync(out), ['golden_gate-the_scream.png']);
    await second.stop('SIGTERM');
  });

  it('a job that cannot run fails at once with its reason; --wait exits 1; status shows it', async () => {
    const dir = newDir();
    const notImage = path.join(dir, 'notes.png');
    fs.writeFileSync(notImage, 'not a picture\n');
    const manifest = path.join(dir, 'jobs.csv');
    fs.writeFileSync(
      manifest,
      `content,style\n${image('tubingen.jpg')},${image('the_scream.jpg')}\n${notImage},${image('the_scream.jpg')}\n`,
    );
    const worker = new Worker(redis.url, 'faults');
    workers.push(worker);
    await worker.ready();
    const queue = ['--redis', redis.url, '--queue', 'faults'];
    const plan = ['--manifest', manifest, '--out-dir', path.join(dir, 'out'), '--size', '32', '--iterations', '2'];
    const run = await nstAsync(['queue', 'submit', ...plan, ...queue, '--wait']);
    assert.equal(run.code, 1, run.stderr);
    const reason = `content image ${notImage}: not an image`;
    assert.match(run.stderr, new RegExp(`\\[2\\] ${notImage} × .*: FAILED: ${reason}`));
    assert.match(run.stderr, /queue: 1 done, 1 failed\n$/);
    const failures = worker.events().filter((e) => e['event'] === 'failed');
    assert.equal(failures.length, 1, 'no retry of a job that would fail again');
    assert.equal(failures[0]!['final'], true);

    const status = nst(['queue', 'status', ...queue, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const { counts, failed, running } = JSON.parse(status.stdout) as Event;
    assert.deepEqual(counts, { waiting: 0, active: 0, delayed: 0, completed: 1, failed: 1 });
    assert.deepEqual(running, []);
    assert.equal(failed.length, 1);
    assert.match(failed[0]['reason'], new RegExp(`^${reason}`));
    const text = nst(['queue', 'status', ...queue]);
    assert.match(text.stdout, /: 0 waiting, 0 running, 0 delayed \(retries\), 1 completed, 1 failed\n  failed \[2\] /);
    await worker.stop('SIGTERM');
  });

  it('submit refuses a bad Redis URL, an unreachable server and existing outputs, submitting nothing', async () => {
    const dir = newDir();
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const plan = ['--content', image('tubingen.jpg'), '--style', image('the_scream.jpg'), '--out-dir', out];
    const submit = (redisUrl: string) => nst(['queue', 'submit', ...plan, '--redis', redisUrl, '--queue', 'refusals']);

    const bad = submit('http://127.0.0.1:6379');
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'nst: Redis URL http://127.0.0.1:6379: must start with redis:// or rediss://\n');

    const port = Number(new URL(redis.url).port);
    const closed = submit(`redis://user:secret@127.0.0.1:${port === 65535 ? port - 1 : port + 1}`);
    assert.equal(closed.code, 1);
    assert.match(
      closed.stderr,
      /^nst: cannot reach Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:\d+: connect ECONNREFUSED/,
    );

    fs.writeFileSync(path.join(out, 'tubingen-the_scream.png'), 'an earlier result');
    const exists = submit(redis.url);
    assert.equal(exists.code, 2);
    assert.match(
      exists.stderr,
      /^nst: output .*tubingen-the_scream\.png exists \(use --force to overwrite or --skip-existing\)\n$/,
    );
    const skipped = nst(['queue', 'submit', ...plan, '--redis', redis.url, '--queue', 'refusals', '--skip-existing']);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stderr, /submitted 0 jobs to queue refusals .*\(1 skipped: exist\)/);
    const status = JSON.parse(nst(['queue', 'status', '--redis', redis.url, '--queue', 'refusals', '--json']).stdout);
    assert.equal(status.counts.waiting, 0);
  });

  it('a batch submitted again while its jobs wait is not queued twice', () => {
    const dir = newDir();
    const plan = ['--content', image('tubingen.jpg'), '--style', image('shipwreck.jpg'), '--out-dir', dir];
    const submit = () => nst(['queue', 'submit', ...plan, '--redis', redis.url, '--queue', 'twice', '--json']);
    const [once, again] = [submit(), submit()];
    assert.equal(once.code, 0, once.stderr);
    assert.equal(again.code, 0, again.stderr);
    const ids = (run: { stdout: string }) => events(run.stdout).find((e) => e['event'] === 'submitted')!['ids'];
    assert.deepEqual(ids(again), ids(once));
    const status = JSON.parse(nst(['queue', 'status', '--redis', redis.url, '--queue', 'twice', '--json']).stdout);
    assert.equal(status.counts.waiting, 1);
  });

  it('nst stylize and nst batch never load the Redis client (BullMQ, ioredis); nst queue does', () => {
    // A module hook that refuses the queue's packages: the control shows that it bites.
    const hooks = `export async function resolve(s, c, next) {
      if (s === 'bullmq' || s === 'ioredis') throw new Error('loaded ' + s);
      return next(s, c);
    }`;
    const preload = `import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));`;
    const guarded = (args: string[]) =>
      spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(preload)}`, BIN, ...args], {
        env: { ...process.env, NST_WEIGHTS: WEIGHTS },
        encoding: 'utf8',
      });
    const dir = newDir();
    const run = ['--size', '32', '--iterations', '2', '-q'];
    const photo = image('tubingen.jpg');
    const stylize = guarded(['stylize', photo, image('the_scream.jpg'), '-o', path.join(dir, 'a.png'), ...run]);
    assert.equal(stylize.status, 0, stylize.stderr);
    const batch = guarded(['batch', '--content', photo, '--style', image('the_scream.jpg'), '--out-dir', dir, ...run]);
    assert.equal(batch.status, 0, batch.stderr);
    const queue = guarded(['queue', 'status', '--redis', redis.url]);
    assert.notEqual(queue.status, 0);
    assert.match(queue.stderr, /loaded (bullmq|ioredis)/);
  });
});
