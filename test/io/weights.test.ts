import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../src/errors.js';
import { VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import {
  WEIGHTS_FILE_NAME,
  WEIGHTS_MD5,
  cacheDir,
  downloadFile,
  ensureWeights,
  locateWeights,
  md5File,
  readConvWeights,
  verifyWeightsFile,
} from '../../src/io/weights.js';

const SHARED = path.resolve(process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5');
const skipShared = existsSync(SHARED) ? false : `shared weights not found at ${SHARED}`;

// Every file a test makes lives in one of these, removed at the end.
const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nst-weights-test-'));
  tempDirs.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(tempDirs.map((dir) => fsp.rm(dir, { recursive: true, force: true })));
});

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** Asserts that `promise` rejects with an InputError whose message matches. */
async function rejectsInput(promise: Promise<unknown>, pattern: RegExp | string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    if (typeof pattern === 'string') assert.equal(err.message, pattern);
    else assert.match(err.message, pattern);
    return true;
  });
}

// The timeout turns a hanging download (say, an endless redirect loop) into a failure.
describe('downloadFile', { timeout: 20_000 }, () => {
  const payload = randomBytes(200_000);
  const payloadMd5 = md5(payload);
  let server: http.Server;
  let base = '';

  before(async () => {
    server = http.createServer((req, res) => {
      switch (req.url) {
        case '/good':
          res.writeHead(200, { 'content-length': payload.length });
          res.end(payload);
          break;
        case '/short':
          // Promise the whole payload, send a quarter, then hang up.
          res.writeHead(200, { 'content-length': payload.length });
          res.write(payload.subarray(0, 50_000), () => res.socket?.destroy());
          break;
        case '/redirect':
          res.writeHead(302, { location: '/good' });
          res.end();
          break;
        case '/loop':
          res.writeHead(302, { location: '/loop' });
          res.end();
          break;
        default:
          res.writeHead(404);
          res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('downloads, checks md5, creates the directory and leaves no temporary file', async () => {
    const dir = await tempDir();
    const dest = path.join(dir, 'sub', 'w.h5');
    const seen: [number, number | null][] = [];
    await downloadFile(`${base}/good`, dest, payloadMd5, (received, total) => seen.push([received, total]));
    assert.deepEqual(await fsp.readFile(dest), payload);
    assert.deepEqual(await fsp.readdir(path.dirname(dest)), ['w.h5']);
    assert.ok(seen.length > 0);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] > seen[i - 1][0], 'progress must increase');
    assert.deepEqual(seen.at(-1), [payload.length, payload.length]);
  });

  test('follows a redirect', async () => {
    const dest = path.join(await tempDir(), 'w.h5');
    await downloadFile(`${base}/redirect`, dest, payloadMd5);
    assert.equal(await md5File(dest), payloadMd5);
  });

  test('wrong checksum: throws naming both hashes, keeps nothing', async () => {
    const dir = await tempDir();
    const wrong = '0'.repeat(32);
    await assert.rejects(downloadFile(`${base}/good`, path.join(dir, 'w.h5'), wrong), (err: Error) => {
      assert.match(err.message, /md5 mismatch/);
      assert.ok(err.message.includes(payloadMd5) && err.message.includes(wrong), err.message);
      assert.ok(err.message.includes(`${base}/good`), err.message);
      return true;
    });
    assert.deepEqual(await fsp.readdir(dir), []);
  });

  test('connection closed early: throws "cut short", keeps nothing', async () => {
    const dir = await tempDir();
    await assert.rejects(downloadFile(`${base}/short`, path.join(dir, 'w.h5'), payloadMd5), /cut short/);
    assert.deepEqual(await fsp.readdir(dir), []);
  });

  test('HTTP 404: throws naming the status and the URL', async () => {
    const dir = await tempDir();
    await assert.rejects(downloadFile(`${base}/nothing`, path.join(dir, 'w.h5'), payloadMd5), (err: Error) => {
      assert.match(err.message, /404/);
      assert.ok(err.message.includes(`${base}/nothing`), err.message);
      return true;
    });
    assert.deepEqual(await fsp.readdir(dir), []);
  });

  test('gives up after too many redirects', async () => {
    const dir = await tempDir();
    await assert.rejects(downloadFile(`${base}/loop`, path.join(dir, 'w.h5'), payloadMd5), /redirects/);
    assert.deepEqual(await fsp.readdir(dir), []);
  });
});

describe('locateWeights', () => {
  test('order: explicit path, then NST_WEIGHTS, then the cache, else null', async () => {
    const dir = await tempDir();
    const flag = path.join(dir, 'flag.h5');
    const fromEnv = path.join(dir, 'env.h5');
    const env = { XDG_CACHE_HOME: path.join(dir, 'cache'), NST_WEIGHTS: fromEnv };
    const cached = path.join(dir, 'cache', 'nst', WEIGHTS_FILE_NAME);
    await fsp.mkdir(path.dirname(cached), { recursive: true });
    for (const file of [flag, fromEnv, cached]) await fsp.writeFile(file, 'x');

    assert.deepEqual(locateWeights(flag, env), { path: flag, source: 'explicit' });
    assert.deepEqual(locateWeights(undefined, env), { path: fromEnv, source: 'env' });
    assert.deepEqual(locateWeights(undefined, { XDG_CACHE_HOME: env.XDG_CACHE_HOME }), {
      path: cached,
      source: 'cache',
    });
    assert.equal(locateWeights(undefined, { XDG_CACHE_HOME: path.join(dir, 'empty') }), null);
    // A file already in place is used without any download.
    assert.deepEqual(await ensureWeights({ env }), { path: fromEnv, source: 'env' });
  });

  test('a named file that does not exist is an InputError, not a download', async () => {
    const dir = await tempDir();
    const missing = path.join(dir, 'missing.h5');
    const env = { XDG_CACHE_HOME: dir };
    assert.throws(
      () => locateWeights(missing, env),
      (err: unknown) => err instanceof InputError && /no such file/.test(err.message),
    );
    assert.throws(() => locateWeights(undefined, { ...env, NST_WEIGHTS: missing }), InputError);
    assert.throws(() => locateWeights(dir, env), InputError);
  });

  test('cacheDir uses XDG_CACHE_HOME, else ~/.cache', () => {
    assert.equal(cacheDir({ XDG_CACHE_HOME: '/tmp/xdg' }), path.join('/tmp/xdg', 'nst'));
    assert.equal(cacheDir({ HOME: '/home/someone' }), path.join('/home/someone', '.cache', 'nst'));
  });
});

describe('readConvWeights on the shared VGG19 file', { skip: skipShared }, () => {
  test('reads block1_conv1 … block5_conv2 with the right shapes', async () => {
    const specs = VGG19_CONV_SPECS.slice(0, 14);
    assert.equal(specs.at(-1)?.name, 'block5_conv2');
    const layers = await readConvWeights(SHARED, specs);
    assert.deepEqual(
      layers.map((l) => l.name),
      specs.map((s) => s.name),
    );
    let parameters = 0;
    for (const [i, layer] of layers.entries()) {
      const [h, w, cin, cout] = specs[i].shape;
      assert.deepEqual(layer.kernelShape, [h, w, cin, cout]);
      assert.equal(layer.kernel.length, h * w * cin * cout);
      assert.equal(layer.bias.length, cout);
      parameters += layer.kernel.length + layer.bias.length;
    }
    assert.equal(parameters, 15_304_768);
    const first = layers[0].kernel.subarray(0, 16);
    assert.ok(first.every(Number.isFinite));
    assert.ok(
      first.some((v) => v !== 0),
      'kernel should not be all zeros',
    );
  });

  test('verifyWeightsFile checks all 16 conv layers', async () => {
    const summary = await verifyWeightsFile(SHARED, VGG19_CONV_SPECS);
    assert.equal(summary.layers, 16);
    assert.equal(summary.parameters, 20_024_384);
    assert.match(summary.md5, /^[0-9a-f]{32}$/);
    assert.equal(summary.md5MatchesOfficial, summary.md5 === WEIGHTS_MD5);
    // The shared file is a reconstruction, not the byte-identical Keras download.
    if (path.basename(SHARED) === 'vgg19_notop_reconstructed.h5') assert.equal(summary.md5MatchesOfficial, false);
  });

  test('a truncated copy is reported as truncated', async () => {
    const file = path.join(await tempDir(), 'truncated.h5');
    const handle = await fsp.open(SHARED, 'r');
    try {
      const head = Buffer.alloc(1 << 20);
      await handle.read(head, 0, head.length, 0);
      await fsp.writeFile(file, head);
    } finally {
      await handle.close();
    }
    await rejectsInput(
      readConvWeights(file, VGG19_CONV_SPECS),
      /^weights file .*truncated\.h5: file is truncated or corrupt/,
    );
  });
});

describe('readConvWeights on bad files', () => {
  type Layer = { name: string; kernel: number[]; bias: number[]; float64?: boolean };

  /** Writes a small Keras-layout file with the given conv layers (zeros as values). */
  async function writeKerasFile(file: string, layers: Layer[]): Promise<void> {
    const { default: h5wasm } = await import('h5wasm/node');
    await h5wasm.ready;
    const f = new h5wasm.File(file, 'w');
    try {
      f.create_attribute('layer_names', ['input_1', ...layers.map((l) => l.name)]);
      f.create_group('input_1');
      for (const layer of layers) {
        const group = f.create_group(layer.name);
        const names = [`${layer.name}_W_1:0`, `${layer.name}_b_1:0`];
        group.create_attribute('weight_names', names);
        for (const [i, shape] of [layer.kernel, layer.bias].entries()) {
          const size = shape.reduce((a, b) => a * b, 1);
          const data = layer.float64 ? new Float64Array(size) : new Float32Array(size);
          group.create_dataset({ name: names[i], data, shape });
        }
      }
    } finally {
      f.close();
    }
  }

  const first2 = VGG19_CONV_SPECS.slice(0, 2);

  test('a text file is not HDF5', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await fsp.writeFile(file, '<html>Not found</html>\n');
    await rejectsInput(readConvWeights(file, first2), /^weights file .*w\.h5: not an HDF5 file/);
  });

  test('an empty file', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await fsp.writeFile(file, '');
    await rejectsInput(readConvWeights(file, first2), `weights file ${file}: file is empty`);
  });

  test('a missing file', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await rejectsInput(readConvWeights(file, first2), `weights file ${file}: no such file`);
  });

  test('a kernel of the wrong shape', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await writeKerasFile(file, [{ name: 'block1_conv1', kernel: [3, 3, 3, 32], bias: [32] }]);
    await rejectsInput(
      readConvWeights(file, first2),
      `weights file ${file}: layer block1_conv1 kernel has shape [3,3,3,32], expected [3,3,3,64]`,
    );
  });

  test('a bias of the wrong shape', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await writeKerasFile(file, [{ name: 'block1_conv1', kernel: [3, 3, 3, 64], bias: [63] }]);
    await rejectsInput(
      readConvWeights(file, first2),
      `weights file ${file}: layer block1_conv1 bias has shape [63], expected [64]`,
    );
  });

  test('float64 instead of float32', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await writeKerasFile(file, [{ name: 'block1_conv1', kernel: [3, 3, 3, 64], bias: [64], float64: true }]);
    await rejectsInput(readConvWeights(file, first2), /layer block1_conv1 kernel has type .*, expected float32$/);
  });

  test('a missing layer', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await writeKerasFile(file, [{ name: 'block1_conv1', kernel: [3, 3, 3, 64], bias: [64] }]);
    await rejectsInput(readConvWeights(file, first2), `weights file ${file}: layer block1_conv2 missing`);
    // The layer that is there reads fine.
    const [layer] = await readConvWeights(file, first2.slice(0, 1));
    assert.equal(layer.kernel.length, 3 * 3 * 3 * 64);
  });

  test('a damaged HDF5 header is reported as corrupt', async () => {
    const file = path.join(await tempDir(), 'w.h5');
    await writeKerasFile(file, [{ name: 'block1_conv1', kernel: [3, 3, 3, 64], bias: [64] }]);
    const bytes = await fsp.readFile(file);
    // Superblock v2/v3 with 8-byte addresses keeps its checksum at bytes 44..47.
    assert.ok((bytes[8] === 2 || bytes[8] === 3) && bytes[9] === 8, 'unexpected superblock layout');
    bytes[44] ^= 0xff;
    await fsp.writeFile(file, bytes);
    await rejectsInput(readConvWeights(file, first2), /^weights file .*: file is truncated or corrupt \(.+\)$/);
  });
});
