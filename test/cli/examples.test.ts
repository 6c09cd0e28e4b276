import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, tempDir, WEIGHTS } from '../helpers.js';

const EXAMPLES = path.resolve('examples');
const hasJq = spawnSync('jq', ['--version']).status === 0;

/** The width and height of a PNG file, from its IHDR chunk. */
function pngSize(file: string): [number, number] {
  const header = fs.readFileSync(file).subarray(0, 24);
  assert.equal(header.toString('latin1', 12, 16), 'IHDR', `${file} is a PNG`);
  return [header.readUInt32BE(16), header.readUInt32BE(20)];
}

describe('examples/', () => {
  let dir: string;
  let photo: string;
  let painting: string;
  // At --size 32 (width × height): the generated landscape is 256×192, the house 160×200.
  const small: Record<string, [number, number]> = { landscape: [32, 24], house: [26, 32] };

  /** Runs an example script in the temporary directory, small and quick unless env says otherwise. */
  function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    const result = spawnSync(path.join(EXAMPLES, script), args, {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NST_WEIGHTS: WEIGHTS, SIZE: '32', ITERATIONS: '2', ...env },
      timeout: 120_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  before(() => {
    dir = tempDir();
    photo = path.join(dir, 'images', 'photos', 'landscape.png');
    painting = path.join(dir, 'images', 'paintings', 'swirls.png');
  });
  after(() => fs.rmSync(dir, { recursive: true }));

  it('make-images.mjs draws two photos and two paintings, the same pixels on every run', () => {
    for (const target of ['images', 'again']) {
      const made = spawnSync(process.execPath, [path.join(EXAMPLES, 'make-images.mjs'), path.join(dir, target)], {
        encoding: 'utf8',
      });
      assert.equal(made.status, 0, made.stderr);
    }
    const expected: Record<string, [number, number]> = {
      'photos/landscape.png': [256, 192],
      'photos/house.png': [160, 200],
      'paintings/swirls.png': [192, 192],
      'paintings/dots.png': [200, 150],
    };
    for (const [file, size] of Object.entries(expected)) {
      assert.deepEqual(pngSize(path.join(dir, 'images', file)), size, file);
      assert.deepEqual(
        fs.readFileSync(path.join(dir, 'images', file)),
        fs.readFileSync(path.join(dir, 'again', file)),
        file,
      );
    }
  });

  it('batch-folder.sh draws the images when missing, stylizes every photo × painting, and skips them all when run again', () => {
    const env = { IMAGES: path.join(dir, 'drawn') };
    const first = run('batch-folder.sh', [], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /batch: 4 done, 0 skipped, 0 failed/);
    const out = path.join(dir, 'batch-out');
    assert.deepEqual(fs.readdirSync(out).sort(), [
      'house-dots.png',
      'house-swirls.png',
      'landscape-dots.png',
      'landscape-swirls.png',
    ]);
    for (const file of fs.readdirSync(out))
      assert.deepEqual(pngSize(path.join(out, file)), small[file.split('-')[0]!], file);
    const again = run('batch-folder.sh', [], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /batch: 0 done, 4 skipped, 0 failed/);
    assert.equal(again.stderr.match(/skipped \(exists\)/g)?.length, 4);
  });

  it('style-sweep.sh writes one output per --style-scale and --alpha value, named by the value', () => {
    const sweep = run('style-sweep.sh', [photo, painting, 'sweep'], { SCALES: '0.5 1', ALPHAS: '1e2' });
    assert.equal(sweep.code, 0, sweep.stderr);
    assert.match(sweep.stderr, /batch: 3 done, 0 skipped, 0 failed/);
    const names = [
      'landscape-swirls_alpha-1e2.png',
      'landscape-swirls_style-scale-0.5.png',
      'landscape-swirls_style-scale-1.png',
    ];
    assert.deepEqual(fs.readdirSync(path.join(dir, 'sweep')).sort(), [...names, 'sweep.csv']);
    for (const name of names) assert.deepEqual(pngSize(path.join(dir, 'sweep', name)), small['landscape']);
  });

  // Without jq only the sed fallback can run; NO_JQ=1 forces it where jq is installed.
  for (const noJq of hasJq ? ['', '1'] : ['1']) {
    it(`json-events.sh prints the cost table and the done line (${noJq ? 'sed' : 'jq'})`, () => {
      const out = path.join(dir, `events-${noJq ? 'sed' : 'jq'}.png`);
      const events = run('json-events.sh', [photo, painting, out], { STEP: '1', NO_JQ: noJq });
      assert.equal(events.code, 0, events.stderr);
      const lines = events.stdout.trim().split('\n');
      assert.match(lines[0]!, /^\s*iteration\s+total cost$/);
      assert.deepEqual(
        lines.slice(1, 4).map((line) => line.trim().split(/\s+/)[0]),
        ['0', '1', '2'],
      );
      for (const line of lines.slice(1, 4)) assert.ok(Number(line.trim().split(/\s+/)[1]) > 0, line);
      assert.match(lines[4]!, new RegExp(`^done: ${out.replace(/[.\\]/g, '\\$&')}, best cost \\d`));
      assert.equal(lines.length, 5);
      assert.deepEqual(pngSize(out), small['landscape']);
    });
  }

  it("json-events.sh exits 1 with the error event's message", () => {
    const events = run('json-events.sh', [path.join(dir, 'missing.png'), painting], {
      STEP: '1',
      NO_JQ: hasJq ? '' : '1',
    });
    assert.equal(events.code, 1);
    assert.match(events.stderr, /json-events\.sh: error \(input\): content image .*missing\.png: file not found/);
  });

  it('slurm-array.sh: three array tasks write every job of the manifest, each its own shard', () => {
    const images = path.join(dir, 'images');
    const rows = ['photos/landscape.png,paintings/swirls.png', 'photos/house.png,paintings/swirls.png'];
    rows.push('photos/landscape.png,paintings/dots.png', 'photos/house.png,paintings/dots.png');
    fs.writeFileSync(path.join(images, 'jobs.csv'), ['content,style', ...rows].join('\n') + '\n');
    const shards = ['10', '11', '12'].map((task) => {
      const env = { SLURM_ARRAY_TASK_ID: task, SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '3', THREADS: '1' };
      const result = run('slurm-array.sh', [path.join(images, 'jobs.csv'), 'array-out'], { NST: BIN, ...env });
      assert.equal(result.code, 0, result.stderr);
      return /shard (\d)\/3: (\d) jobs? of 4/.exec(result.stderr)?.slice(1);
    });
    assert.deepEqual(shards, [
      ['1', '2'],
      ['2', '1'],
      ['3', '1'],
    ]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'array-out')).sort(), [
      'house-dots.png',
      'house-swirls.png',
      'landscape-dots.png',
      'landscape-swirls.png',
    ]);
  });

  it("k8s-indexed-job.yaml: as many completions as --shards, each pod's index read by --shard auto", () => {
    const job = fs.readFileSync(path.join(EXAMPLES, 'k8s-indexed-job.yaml'), 'utf8');
    assert.match(job, /^\s+completionMode: Indexed$/m);
    const completions = /^\s+completions: (\d+)$/m.exec(job)?.[1];
    const block = job.slice(job.indexOf('command:'), job.indexOf('env:'));
    const command = [...block.matchAll(/^\s+- '?([^'\n]*)'?$/gm)].map((m) => m[1]).join(' ');
    assert.match(command, new RegExp(`^nst batch .*--shard auto --shards ${completions} `));
  });

  it('k8s-queue-workers.yaml: workers reach the Redis Service it defines, which never evicts jobs', () => {
    const file = fs.readFileSync(path.join(EXAMPLES, 'k8s-queue-workers.yaml'), 'utf8');
    const [service, redis, workers] = file.split(/^---$/m);
    const name = /^  name: (\S+)$/m.exec(service!)?.[1];
    const port = /^\s+- port: (\d+)$/m.exec(service!)?.[1];
    assert.match(redis!, /- --maxmemory-policy\n\s+- noeviction\n/);
    const block = workers!.slice(workers!.indexOf('command:'), workers!.indexOf('env:'));
    const command = [...block.matchAll(/^\s+- '?([^'\n]*)'?$/gm)].map((m) => m[1]).join(' ');
    assert.match(command, /^nst queue worker /);
    assert.match(workers!, new RegExp(`- name: NST_REDIS\n\\s+value: redis://${name}:${port}\n`));
    // The grace period covers a job's hand-back: its iteration ends, its checkpoint is written.
    assert.ok(Number(/terminationGracePeriodSeconds: (\d+)/.exec(workers!)?.[1]) >= 60);
  });

  it('stylize.sh writes one output per size', () => {
    const stylized = run('stylize.sh', [photo, painting], { SIZES: '32' });
    assert.equal(stylized.code, 0, stylized.stderr);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'stylized')), ['landscape-32.png']);
    assert.deepEqual(pngSize(path.join(dir, 'stylized', 'landscape-32.png')), small['landscape']);
  });
});
