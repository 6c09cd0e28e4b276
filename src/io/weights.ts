/**
 * VGG19 weights: where the Keras .h5 file lives (flag, env, cache, download), downloading it with an
 * md5 check, and reading + validating its conv layers with h5wasm.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { createTemporary, trackTemporary } from './atomic.js';

export interface ConvSpec {
  name: string;
  /** Expected kernel shape, HWIO; the bias shape is [shape[3]]. */
  shape: [number, number, number, number];
}

export interface ConvWeights {
  name: string;
  kernel: Float32Array;
  kernelShape: [number, number, number, number];
  bias: Float32Array;
}

export interface WeightsLocation {
  path: string;
  source: 'explicit' | 'env' | 'cache' | 'download';
}

interface WeightsConfig {
  fileName: string;
  urls: string[];
  md5: string;
}

/** The package's root: the nearest directory above this module with nst's package.json. */
function packageRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'nst')
      return dir;
    if (path.dirname(dir) === dir) throw new Error('nst: cannot find the package root (its package.json)');
  }
}

const config = JSON.parse(readFileSync(path.join(packageRoot(), 'weights', 'vgg19.json'), 'utf8')) as WeightsConfig;

export const WEIGHTS_FILE_NAME: string = config.fileName;
export const WEIGHTS_MD5: string = config.md5.toLowerCase();
export const WEIGHTS_URLS: readonly string[] = Object.freeze([...config.urls]);

// ---------------------------------------------------------------------------------------------
// Locating the file

/** `$XDG_CACHE_HOME/nst`, or `~/.cache/nst` when that is unset (or relative, which XDG says to ignore). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'nst');
  return path.join(env.HOME || os.homedir(), '.cache', 'nst');
}

/** Where the downloaded weights are (or would be) cached. */
export function cachedWeightsPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), WEIGHTS_FILE_NAME);
}

/** The file to use: the one given, then NST_WEIGHTS, then the cache; null means it must be downloaded. */
export function locateWeights(explicit?: string, env: NodeJS.ProcessEnv = process.env): WeightsLocation | null {
  if (explicit) return { path: existingFile(explicit, null), source: 'explicit' };
  if (env.NST_WEIGHTS) return { path: existingFile(env.NST_WEIGHTS, 'NST_WEIGHTS'), source: 'env' };
  const cached = cachedWeightsPath(env);
  return isFile(cached) ? { path: cached, source: 'cache' } : null;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// A path the user named must exist: silently downloading instead would hide their typo. `from`
// names the environment variable that gave it; null for the caller's own option.
function existingFile(file: string, from: string | null): string {
  const abs = path.resolve(file);
  let stat;
  try {
    stat = statSync(abs);
  } catch {
    throw weightsPathError(file, 'no such file', from);
  }
  if (!stat.isFile()) throw weightsPathError(file, 'not a regular file', from);
  return abs;
}

function weightsPathError(file: string, problem: string, from: string | null): InputError {
  const detail = from === null ? { setting: 'weights', file } : { file };
  return new InputError(`weights file ${file}: ${problem}${from === null ? '' : ` (given by ${from})`}`, detail);
}

/** Locate the weights, else download them into the cache (first URL, then the mirrors). */
export async function ensureWeights(opts: {
  explicit?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (received: number, total: number | null) => void;
  log?: (line: string) => void;
}): Promise<WeightsLocation> {
  const found = locateWeights(opts.explicit, opts.env);
  if (found) return found;
  const dest = cachedWeightsPath(opts.env);
  opts.log?.(`VGG19 weights not found; downloading them (about 80 MB) to ${dest}`);
  await downloadFirst(WEIGHTS_URLS, dest, WEIGHTS_MD5, opts.onProgress, opts.log);
  return { path: dest, source: 'download' };
}

export async function downloadFirst(
  urls: readonly string[],
  dest: string,
  md5: string,
  onProgress?: (received: number, total: number | null) => void,
  log?: (line: string) => void,
): Promise<void> {
  const failures: string[] = [];
  for (const url of urls) {
    try {
      await downloadFile(url, dest, md5, onProgress);
      return;
    } catch (err) {
      const message = (err as Error).message;
      failures.push(message);
      log?.(message);
    }
  }
  throw new Error(
    `could not download the VGG19 weights (${failures.join('; ')}); ` +
      `download ${urls[0]} yourself and set NST_WEIGHTS to its path`,
  );
}

// ---------------------------------------------------------------------------------------------
// Downloading

const TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;

/** GET a URL, following up to `redirectsLeft` redirects; resolves with a 200 response. */
function get(url: URL, redirectsLeft: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
    if (!lib) {
      reject(new Error(`unsupported protocol ${url.protocol}`));
      return;
    }
    // agent: false, because a one-off download has no use for a kept-alive socket.
    const req = lib.get(url, { agent: false, timeout: TIMEOUT_MS }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirectsLeft <= 0) reject(new Error(`more than ${MAX_REDIRECTS} redirects`));
        else resolve(get(new URL(location, url), redirectsLeft - 1));
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status} ${res.statusMessage ?? ''}`.trim()));
        return;
      }
      resolve(res);
    });
    // The timeout counts idle time on the socket: connecting, waiting, and gaps in the body.
    req.on('timeout', () => req.destroy(new Error(`no data for ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
}

/**
 * Download url → dest through a temporary file next to it, renamed into place only when the md5
 * matches, so a broken download never looks like a cached file.
 */
export async function downloadFile(
  url: string,
  dest: string,
  md5: string,
  onProgress?: (received: number, total: number | null) => void,
): Promise<void> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const part = `${dest}.part-${process.pid}`;
  trackTemporary(part, true);
  let received = 0;
  let total: number | null = null;
  try {
    const res = await get(new URL(url), MAX_REDIRECTS);
    const length = Number(res.headers['content-length'] ?? NaN);
    total = Number.isFinite(length) ? length : null;
    const hash = createHash('md5');
    await pipeline(
      res,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          received += chunk.length;
          onProgress?.(received, total);
          yield chunk;
        }
      },
      createWriteStream(createTemporary(part), { flags: 'r+' }),
    );
    if (total !== null && received < total) throw new Error('connection closed early');
    const actual = hash.digest('hex');
    if (actual !== md5.toLowerCase()) throw new Error(`md5 mismatch: got ${actual}, expected ${md5.toLowerCase()}`);
    await fsp.rename(part, dest);
  } catch (err) {
    await fsp.rm(part, { force: true });
    let reason = (err as Error).message;
    if (total !== null && received < total) reason = `cut short after ${received} of ${total} bytes (${reason})`;
    throw new Error(`download of ${url} failed: ${reason}`);
  } finally {
    trackTemporary(part, false);
  }
}

export async function md5File(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Reading

type Fail = (problem: string) => InputError;
type H5 = (typeof import('h5wasm/node'))['default'];
type H5Group = InstanceType<H5['Group']>;

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

// Loaded on first use: the wasm module is large and most commands (--help, path) never need it.
async function loadH5(): Promise<H5> {
  const { default: h5wasm } = await import('h5wasm/node');
  // HDF5 errors then throw (with the error stack as message) instead of being printed to stderr.
  (await h5wasm.ready).activate_throwing_error_handler();
  return h5wasm;
}

/** Read and validate the given conv layers, in order, from a Keras-layout HDF5 weights file. */
export async function readConvWeights(file: string, specs: readonly ConvSpec[]): Promise<ConvWeights[]> {
  const fail: Fail = (problem) => new InputError(`weights file ${file}: ${problem}`);
  await checkHeader(file, fail);
  const h5 = await loadH5();
  try {
    return readLayers(h5, path.resolve(file), specs, fail);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const message = (err as Error).message;
    throw fail(`file is truncated or corrupt (${hdf5Reason(message) ?? message})`);
  }
}

/** Catch what h5wasm would crash or babble on: missing, empty, not HDF5, shorter than its header says. */
async function checkHeader(file: string, fail: Fail): Promise<void> {
  const stat = await fsp.stat(file).catch(() => null);
  if (!stat) throw fail('no such file');
  if (!stat.isFile()) throw fail('not a regular file');
  if (stat.size === 0) throw fail('file is empty');
  const head = Buffer.alloc(64);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, 'r');
    await handle.read(head, 0, head.length, 0);
  } catch (err) {
    throw fail(`cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    await handle?.close();
  }
  if (stat.size < 8 || !head.subarray(0, 8).equals(HDF5_SIGNATURE)) {
    throw fail('not an HDF5 file (expected the Keras VGG19 .h5 weights file)');
  }
  const expected = storedEndOfFile(head);
  if (expected !== null && stat.size < expected) {
    throw fail(`file is truncated or corrupt (${stat.size} bytes, its HDF5 header says ${expected})`);
  }
}

/** The file size recorded in the HDF5 superblock (base address + end-of-file address), if readable. */
function storedEndOfFile(head: Buffer): number | null {
  const version = head[8];
  let offsetSize: number;
  let baseAt: number;
  if (version === 0 || version === 1) {
    offsetSize = head[13];
    baseAt = version === 0 ? 24 : 28;
  } else if (version === 2 || version === 3) {
    offsetSize = head[9];
    baseAt = 12;
  } else {
    return null;
  }
  const eofAt = baseAt + 2 * offsetSize;
  if (![2, 4, 8].includes(offsetSize) || eofAt + offsetSize > head.length) return null;
  const readAddress = (at: number): number => {
    let value = 0;
    for (let i = offsetSize - 1; i >= 0; i--) value = value * 256 + head[at + i];
    return value;
  };
  return readAddress(baseAt) + readAddress(eofAt);
}

/** The most specific line of an HDF5 error stack, e.g. "incorrect metadata checksum ...". */
function hdf5Reason(diag: string): string | null {
  const lines = diag.split('\n').filter((line) => /^\s*#\d+:/.test(line));
  const last = lines.at(-1)?.match(/\(\): (.*)$/);
  return last ? last[1].trim() : null;
}

function readLayers(h5: H5, file: string, specs: readonly ConvSpec[], fail: Fail): ConvWeights[] {
  const f = new h5.File(file, 'r');
  try {
    if (f.file_id < 0n) throw new Error('HDF5 could not open it');
    const layerNames = stringList(f.attrs['layer_names']?.value);
    if (!layerNames) throw fail('no layer_names attribute (not a Keras weights file)');
    return specs.map((spec) => readLayer(h5, f, spec, layerNames, fail));
  } finally {
    if (f.file_id >= 0n) f.close();
  }
}

function readLayer(h5: H5, f: H5Group, spec: ConvSpec, layerNames: string[], fail: Fail): ConvWeights {
  const { name, shape } = spec;
  const group = layerNames.includes(name) ? f.get(name) : null;
  if (!(group instanceof h5.Group)) throw fail(`layer ${name} missing`);
  const names = stringList(group.attrs['weight_names']?.value);
  if (!names || names.length < 2) throw fail(`layer ${name} has no kernel and bias listed in weight_names`);
  // Keras lists a conv layer's weights as [kernel, bias].
  return {
    name,
    kernel: readFloat32(h5, group, names[0], `layer ${name} kernel`, shape, fail),
    kernelShape: [...shape],
    bias: readFloat32(h5, group, names[1], `layer ${name} bias`, [shape[3]], fail),
  };
}

function readFloat32(h5: H5, group: H5Group, name: string, what: string, expected: number[], fail: Fail): Float32Array {
  const ds = group.get(name);
  if (!(ds instanceof h5.Dataset)) throw fail(`${what} (${name}) missing`);
  if (ds.dtype !== '<f') throw fail(`${what} has type ${JSON.stringify(ds.dtype)}, expected float32`);
  const actual = ds.shape ?? [];
  if (actual.length !== expected.length || actual.some((n, i) => n !== expected[i])) {
    throw fail(`${what} has shape [${actual.join(',')}], expected [${expected.join(',')}]`);
  }
  const value = ds.value;
  const size = expected.reduce((a, b) => a * b, 1);
  if (!(value instanceof Float32Array) || value.length !== size) throw new Error(`could not read ${what}`);
  return value;
}

/** HDF5 string attributes come back as one string or an array of them. */
function stringList(value: unknown): string[] | null {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return null;
}

// ---------------------------------------------------------------------------------------------
// Verifying

/** Check the given conv layers (all of VGG19's, for `nst weights verify`) of a file and compute its md5. */
export async function verifyWeightsFile(
  file: string,
  specs: readonly ConvSpec[],
): Promise<{ path: string; md5: string; md5MatchesOfficial: boolean; layers: number; parameters: number }> {
  const layers = await readConvWeights(file, specs);
  const md5 = await md5File(file);
  const parameters = layers.reduce((sum, l) => sum + l.kernel.length + l.bias.length, 0);
  return { path: path.resolve(file), md5, md5MatchesOfficial: md5 === WEIGHTS_MD5, layers: layers.length, parameters };
}
