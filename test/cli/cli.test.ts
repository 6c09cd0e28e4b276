import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { wordError } from '../../src/cli/main.js';
import { InputError } from '../../src/errors.js';
import { readImage } from '../../src/io/images.js';
import { BIN, IMAGES, nst, tempDir, useWasm } from '../helpers.js';

const content = path.join(IMAGES, 'tubingen.jpg');
const style = path.join(IMAGES, 'starry_night.jpg');

describe('nst command', () => {
  // auto picks ONNX Runtime's native build here; onnx-wasm is its build that runs wherever Node does.
  for (const [flags, line] of [
    [[], /^backend: onnx \(onnxruntime-node [\d.]+, cpu execution provider, \d+ threads?\)$/m],
    [['--style-loss', 'w2', '--alpha', '3', '--var', '0.003'], /^backend: onnx/m],
    [
      ['--backend', 'onnx-wasm'],
      /^backend: onnx-wasm \(onnxruntime-web [\d.]+, wasm execution provider, \d+ threads?\)$/m,
    ],
  ] as const) {
    it(`stylizes a photo end to end${flags.length ? ` with ${flags.join(' ')}` : ''}: a valid image of the expected size, best cost below the first`, async () => {
      await stylizesEndToEnd([...flags], line);
    });
  }

  it('--backend auto writes the picture --backend onnx writes, and onnx-wasm the same within float32 rounding', async () => {
    const dir = tempDir();
    const pictures: Float32Array[] = [];
    await useWasm();
    for (const backend of ['onnx', 'auto', 'onnx-wasm']) {
      const out = path.join(dir, `${backend}.png`);
      const run = nst([
        'stylize',
        content,
        style,
        '-o',
        out,
        '--size',
        '40',
        '--iterations',
        '8',
        '--backend',
        backend,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const image = await readImage(out);
      pictures.push(image.dataSync() as Float32Array);
      image.dispose();
    }
    const [onnx, auto, wasm] = pictures as [Float32Array, Float32Array, Float32Array];
    assert.deepEqual(auto, onnx, 'auto runs onnx');
    // The two builds run the same graphs, their kernels rounding float32 differently: after 8 Adam
    // steps of 0.01 the 8-bit pixels agree within one level.
    const worst = Math.max(...onnx.map((v, i) => Math.abs(v - wasm[i]!)));
    assert.ok(worst <= 1, `largest difference ${worst} of 255`);
    fs.rmSync(dir, { recursive: true });
  });

  async function stylizesEndToEnd(flags: string[], backendLine: RegExp): Promise<void> {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const args = ['stylize', content, style, '-o', out, '--size', '48', '--iterations', '10', '--step', '5', ...flags];
    const run = nst(args);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, backendLine);
    const lines = run.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(':')[0]),
      ['Cost at iteration 0', 'Cost at iteration 5', 'Cost at iteration 10'],
    );
    const first = Number(lines[0]!.split(/[:,] /)[1]);
    const best = Number(run.stderr.match(/best cost (\S+)/)![1]);
    assert.ok(best < first, `${best} < ${first}`);
    await useWasm();
    const image = await readImage(out);
    assert.deepEqual(image.shape, [36, 48, 3]); // tubingen is 1024×768
    image.dispose();
    assert.deepEqual(fs.readdirSync(dir), ['out.png']); // no temporary file left
    fs.rmSync(dir, { recursive: true });
  }

  it("runs L-BFGS coarse-to-fine from a seeded noise image: the final size, each scale's lines", async () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const args = [
      'stylize',
      content,
      style,
      '-o',
      out,
      '--size',
      '64',
      '--scales',
      '2',
      '--iterations',
      '4,2',
      '--step',
      '2',
    ];
    const run = nst([...args, '--optimizer', 'lbfgs', '--init', 'noise', '--seed', '1']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /scales: 32, 64 px, iterations 4, 2/);
    assert.deepEqual(
      run.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(':')[0]),
      [
        'Scale 1/2',
        'Cost at iteration 0',
        'Cost at iteration 2',
        'Cost at iteration 4',
        'Scale 2/2',
        'Cost at iteration 0',
        'Cost at iteration 2',
      ],
    );
    assert.match(
      run.stderr,
      /wrote .*out\.png \(64×48\): (all iterations done|converged \(the cost stopped falling\)) after \d+ iterations \(\d+ evaluations\), best cost \d/,
    );
    await useWasm();
    const image = await readImage(out);
    assert.deepEqual(image.shape, [48, 64, 3]);
    image.dispose();
    fs.rmSync(dir, { recursive: true });
  });

  it('--preset seed runs the exercise, flags override it, the default run stops at convergence and says why', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const run = (...flags: string[]) => {
      const r = nst(['stylize', content, style, '-o', out, '--json', '--step', '1', ...flags]);
      assert.equal(r.code, 0, r.stderr);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, any>);
      return { start: events.find((e) => e['event'] === 'start')!, done: events.find((e) => e['event'] === 'done')! };
    };
    const layers = ['--style-layers', 'block1_conv1,block2_conv1', '--content-layers', 'block2_conv2'];
    const seed = run('--preset', 'seed', '--size', '128', '--iterations', '3', ...layers);
    assert.equal(seed.start['preset'], 'seed');
    const { optimizer, lr, beta1, beta2, scales, iterations, convergence } = seed.start['settings'];
    assert.deepEqual(
      { optimizer, lr, beta1, beta2, scales, iterations, convergence },
      { optimizer: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.99, scales: [128], iterations: [3], convergence: 0 },
    );
    assert.deepEqual([seed.done['reason'], seed.done['iterations']], ['iterations', 3]);

    const lbfgs = run('--preset', 'seed', '--optimizer', 'lbfgs', '--size', '64', '--iterations', '2', ...layers);
    assert.deepEqual([lbfgs.start['settings'].optimizer, lbfgs.start['settings'].scales], ['lbfgs', [64]]);

    // The default: L-BFGS (auto scales), ending each scale when the cost stops falling.
    const auto = run('--size', '128', '--iterations', '60', '--converge', '0.05', '--converge-window', '2', ...layers);
    assert.equal(auto.start['preset'], null);
    // At 128 px, auto has one scale (none below 256 px): the total is its count.
    assert.deepEqual(
      [auto.start['settings'].optimizer, auto.start['settings'].scales, auto.start['settings'].iterations],
      ['lbfgs', [128], [60]],
    );
    assert.equal(auto.done['reason'], 'converged');
    assert.ok(auto.done['iterations'] < 60, `${auto.done['iterations']} iterations`);
    const line = nst([
      'stylize',
      content,
      style,
      '-o',
      out,
      '--size',
      '64',
      '--iterations',
      '30',
      '--converge',
      '0.9',
      '--converge-window',
      '1',
    ]);
    assert.match(line.stderr, /: converged \(the cost stopped falling\) after \d+ iterations \(\d+ evaluations\)/);
    fs.rmSync(dir, { recursive: true });
  });

  it('shows examples in its help and exits 0', () => {
    for (const args of [['--help'], ['stylize', '--help']]) {
      const run = nst(args);
      assert.equal(run.code, 0);
      assert.match(run.stdout, /Examples:\n\s+\$ nst stylize/);
    }
  });

  it('refuses bad flags and inputs with one line on stderr and exit code 2, writing nothing', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const cases: [string[], RegExp][] = [
      [['stylize', content, style, '-o', out, '--alpha', '-1'], /alpha must be a non-negative number/],
      [['stylize', content, style, '-o', out, '--iterations', '0'], /iterations must be a positive integer/],
      [['stylize', content, style, '-o', out, '--lr', 'abc'], /lr must be positive/],
      [['stylize', content, style, '-o', out, '--beta1', '2'], /beta1 must be in the range \[0, 1\)/],
      [['stylize', content, style, '-o', out, '--size', 'NaN'], /size must be a positive integer/],
      [
        ['stylize', content, style, '-o', out, '--iterations', '5', '--step', '5'],
        /step must be positive and less than iterations/,
      ],
      [['stylize', content, style, '-o', out, '--backend', 'gpu'], /--backend/],
      [['stylize', content, style, '-o', out, '--optimizer', 'sgd'], /--optimizer/],
      [['stylize', content, style, '-o', out, '--style-loss', 'l1'], /--style-loss/],
      [['stylize', content, style, '-o', out, '--lbfgs-history', '0'], /lbfgs-history must be a positive integer/],
      [['stylize', content, style, '-o', out, '--tolerance', '-1'], /tolerance must be a non-negative number/],
      [['stylize', content, style, '-o', out, '--scales', '0'], /scales must be auto, a positive integer/],
      [['stylize', content, style, '-o', out, '--scales', '256,128'], /ascending/],
      [['stylize', content, style, '-o', out, '--scales', '3', '--iterations', '10,10'], /one entry per scale \(3\)/],
      [['stylize', content, style, '-o', out, '--init', path.join(dir, 'none.png')], /init image .*none\.png/],
      [['stylize', content, style], /required option '-o, --output <file>'/],
      [['stylize', path.join(dir, 'missing.jpg'), style, '-o', out], /content image .*missing\.jpg/],
      [['stylize', content, style, '-o', path.join(dir, 'out.xyz')], /out\.xyz/],
      [['stylize', content, style, '-o', path.join(dir, 'no', 'out.png')], /no[/\\]out\.png/],
      [['stylize', content, style, '-o', out, '--weights', path.join(dir, 'none.h5')], /none\.h5/],
    ];
    for (const [args, message] of cases) {
      const run = nst(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.deepEqual(fs.readdirSync(dir), [], args.join(' '));
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('without the native build, --backend onnx names the package to install and auto runs on onnx-wasm', () => {
    const dir = tempDir();
    // A resolve hook that hides onnxruntime-node, as on a platform it has no binary for.
    const hook = path.join(dir, 'hide-native.mjs');
    const resolve = `export async function resolve(s, c, next) {
      if (s === 'onnxruntime-node') throw new Error('Cannot find package onnxruntime-node');
      return next(s, c);
    }`;
    fs.writeFileSync(
      hook,
      `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(resolve)}`)});\n`,
    );
    const env = { NODE_OPTIONS: `--import ${hook}` };
    const out = path.join(dir, 'out.png');
    const args = ['stylize', content, style, '-o', out, '--size', '32', '--iterations', '1'];
    const native = nst([...args, '--backend', 'onnx'], env);
    assert.equal(native.code, 2, native.stderr);
    assert.match(native.stderr, /^nst: backend onnx cannot be loaded: install onnxruntime-node \(Cannot find package/m);
    assert.ok(!fs.existsSync(out));
    const auto = nst(args, env);
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stderr, /^backend: onnx-wasm \(onnxruntime-web/m);
    assert.ok(fs.existsSync(out));
    fs.rmSync(dir, { recursive: true });
  });
});

describe('nst weights', () => {
  it('fetch downloads into the cache with an md5 check, then path finds it', async () => {
    const { execFile } = await import('node:child_process');
    const { createServer } = await import('node:http');
    const { createHash, randomBytes } = await import('node:crypto');
    const payload = randomBytes(50_000);
    const server = createServer((req, res) => {
      if (req.url === '/vgg.h5') res.end(payload);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const cache = tempDir();
    const env = { ...process.env, XDG_CACHE_HOME: cache, NST_WEIGHTS: '' };
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, ...args], { env }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
        );
      });
    const md5 = createHash('md5').update(payload).digest('hex');
    try {
      const bad = await run(['weights', 'fetch', '--url', `http://127.0.0.1:${port}/vgg.h5`, '--md5', '0'.repeat(32)]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /md5 mismatch/);
      const missing = await run(['weights', 'fetch', '--url', `http://127.0.0.1:${port}/nothing.h5`, '--md5', md5]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /404/);
      assert.deepEqual(
        fs.readdirSync(cache).flatMap((d) => fs.readdirSync(path.join(cache, d))),
        [],
      );
      const good = await run(['weights', 'fetch', '--url', `http://127.0.0.1:${port}/vgg.h5`, '--md5', md5]);
      assert.equal(good.code, 0, good.stderr);
      const where = await run(['weights', 'path']);
      assert.equal(where.stdout.trim(), path.join(cache, 'nst', 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5'));
      assert.deepEqual(fs.readFileSync(where.stdout.trim()), payload);
    } finally {
      server.close();
      fs.rmSync(cache, { recursive: true });
    }
  });
});

describe('errors worded for people', () => {
  it("the settings a library message names become the command's flags, each where it stands", () => {
    const working = new InputError('styleScale 2 × size 512: style images of up to 1024×1024 px are too many', {
      setting: 'maxInputPixels',
      names: ['styleScale', 'size'],
    });
    assert.equal(
      wordError(working),
      '--style-scale 2 × --size 512: style images of up to 1024×1024 px are too many (raise it with --max-input-pixels)',
    );
    const overflow = new InputError('the cost is not finite, before any step: lower alpha, beta or var', {
      names: ['alpha', 'beta', 'var'],
    });
    assert.equal(wordError(overflow), 'the cost is not finite, before any step: lower --alpha, --beta or --var');
    // A word that only contains a name is left alone.
    assert.equal(
      wordError(new InputError('sizes of varied images', { names: ['size', 'var'] })),
      'sizes of varied images',
    );
  });
});
