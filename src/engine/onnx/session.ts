/**
 * ONNX Runtime sessions: which execution provider to ask for on this machine, the session
 * options, and a cache of sessions so that a working size (and set of layers) is built once
 * however many evaluators use it.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ensureRuntime, ort, runtimeBuild, type Ort } from './runtime.js';
import { GraphBuilder } from '../graph/builder.js';
import type { Device } from '../evaluator.js';
import { InputError } from '../../errors.js';
import { findAdapter } from './adapter.js';

const require = createRequire(import.meta.url);

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionSettings {
  /** Intra-op threads (the work of one op split over this many). */
  threads: number;
  /** Graph optimisation level (default 'all': it adds the blocked NCHWc convolution layout). */
  optimization?: OptimizationLevel;
  /** ONNX Runtime's CPU memory arena (default true). */
  memoryArena?: boolean;
  /** Pre-planned memory pattern for repeated runs at one input shape (default false: as fast, ~0.4 GB less at 512 px). */
  memoryPattern?: boolean;
  /** Whether idle intra-op threads spin waiting for work (default false: no slower, and leaves shared cores alone). */
  spinning?: boolean;
  /** Execution providers in order of preference (default: `defaultProviders()`). */
  providers?: readonly string[];
  /** Outputs a GPU provider keeps on the device between runs (fed to the next run as they are). */
  deviceOutputs?: readonly string[];
}

/** What a session was made with. */
export interface SessionInfo {
  /** The execution provider asked for first that the session was created with. */
  provider: string;
  threads: number;
  optimization: OptimizationLevel;
  /** Milliseconds the session creation took (ONNX Runtime parsing, optimising, allocating). */
  createMs: number;
  /** Why a preferred provider was not used, if one failed. */
  fallback?: string;
}

export interface CreatedSession {
  session: Ort.InferenceSession;
  info: SessionInfo;
}

/** The directory of onnxruntime-node's native libraries for this platform. */
function nativeDir(): string {
  return path.join(
    path.dirname(require.resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
}

/** The CUDA provider library is not in the package: its install step fetches it, when not skipped. */
const cudaInstalled = () => fs.existsSync(path.join(nativeDir(), 'libonnxruntime_providers_cuda.so'));
const gpuVisible = () => fs.existsSync('/dev/nvidiactl') || fs.existsSync('/dev/nvidia0');

/**
 * CUDA where its provider is installed and a GPU visible, DirectML on Windows, CoreML on macOS;
 * on Linux WebGPU where a discrete GPU is found (adapter.ts): not an integrated one, which shares
 * the host's memory bandwidth, nor a software driver (lavapipe: 1.0 s an evaluation at 48×64 px
 * where the CPU provider takes 29 ms, bench/README.md); CPU last.
 */
export function defaultProviders(): string[] {
  if (runtimeBuild === 'wasm') return ['wasm'];
  if (process.platform === 'win32') return ['dml', 'cpu'];
  if (process.platform === 'darwin') return ['coreml', 'cpu'];
  if (process.platform === 'linux' && cudaInstalled() && gpuVisible()) return ['cuda', 'cpu'];
  if (process.platform === 'linux' && findAdapter()?.discrete) return ['webgpu', 'cpu'];
  return ['cpu'];
}

/** The execution providers of a device, in order of preference. */
export function providersOf(device: Device): string[] {
  if (device === 'auto' || (device === 'cpu' && runtimeBuild === 'wasm')) return defaultProviders();
  return [device];
}

/** ONNX Runtime's message, without its source path and condition: what went wrong. */
const reasonOf = (error: unknown) => {
  const line = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
  return /was false\. (.*)$/.exec(line)?.[1] ?? line;
};

/**
 * Starts `provider` on a one-node graph, so that a device asked for by name that cannot start
 * says so at once, as an InputError naming the device, before any weights are read.
 */
export async function probeProvider(provider: string, threads: number): Promise<void> {
  await ensureRuntime(threads);
  const g = new GraphBuilder('probe');
  g.output('y', g.op('Relu', [g.input('x', [1])]), [1]);
  try {
    const options = { executionProviders: [provider], logSeverityLevel: 4 as const };
    const session = await ort.InferenceSession.create(g.encode(), options);
    await session.release();
  } catch (error) {
    throw new InputError(`device ${provider} cannot start: ${reasonOf(error)}`, { setting: 'device' });
  }
}

function sessionOptions(settings: SessionSettings, providers: readonly string[]): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [...providers],
    intraOpNumThreads: settings.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: settings.optimization ?? 'all',
    enableCpuMemArena: settings.memoryArena ?? true,
    // DirectML requires it off.
    enableMemPattern: providers[0] === 'dml' ? false : (settings.memoryPattern ?? false),
    logSeverityLevel: 3,
    ...(settings.deviceOutputs?.length && {
      preferredOutputLocation: Object.fromEntries(settings.deviceOutputs.map((name) => [name, 'gpu-buffer' as const])),
    }),
    extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
  };
}

/** A session for the model bytes, with the first provider of the list that works (CPU as the last resort). */
export async function createSession(model: Uint8Array, settings: SessionSettings): Promise<CreatedSession> {
  if (!Number.isInteger(settings.threads) || settings.threads < 1)
    throw new RangeError('threads must be a positive integer');
  await ensureRuntime(settings.threads);
  const providers = settings.providers ?? defaultProviders();
  let fallback: string | undefined;
  for (let i = 0; i < providers.length; i++) {
    const tried = providers.slice(i);
    const started = performance.now();
    try {
      const session = await ort.InferenceSession.create(model, sessionOptions(settings, tried));
      const createMs = performance.now() - started;
      const info: SessionInfo = {
        provider: tried[0]!,
        threads: settings.threads,
        optimization: settings.optimization ?? 'all',
        createMs,
      };
      return { session, info: fallback ? { ...info, fallback } : info };
    } catch (error) {
      if (i === providers.length - 1) throw error;
      fallback = `${providers[i]}: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  throw new Error('no execution provider given');
}

interface Entry {
  created: Promise<CreatedSession>;
  refs: number;
  lastUsed: number;
}

/** A session held from a cache; `release` gives it back (once). */
export interface Lease extends CreatedSession {
  /** Whether the session was already in the cache. */
  cached: boolean;
  release(): void;
}

/**
 * Sessions by key (what the graph was built from, and the settings). A session in use is never
 * dropped; of those no longer in use the `idleLimit` most recently used stay for the next
 * evaluator, the others are released at once.
 */
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;

  constructor(readonly idleLimit = 1) {}

  /** The cached session for `key`, or a new one from `create`. */
  async acquire(key: string, create: () => Promise<CreatedSession>): Promise<Lease> {
    let entry = this.entries.get(key);
    const cached = entry !== undefined;
    if (!entry) {
      entry = { created: create(), refs: 0, lastUsed: 0 };
      this.entries.set(key, entry);
      // A failed creation must not stay cached.
      entry.created.catch(() => this.entries.get(key) === entry && this.entries.delete(key));
    }
    entry.refs++;
    entry.lastUsed = ++this.clock;
    let created: CreatedSession;
    try {
      created = await entry.created;
    } catch (error) {
      entry.refs--;
      throw error;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      entry.refs--;
      this.trim();
    };
    return { ...created, cached, release };
  }

  /** Sessions held in use or idle. */
  get size(): number {
    return this.entries.size;
  }

  /** Releases every session not in use; returns how many. */
  async clear(): Promise<number> {
    return this.drop([...this.entries].filter(([, e]) => e.refs === 0));
  }

  private trim(): void {
    const idle = [...this.entries].filter(([, e]) => e.refs === 0).sort(([, a], [, b]) => b.lastUsed - a.lastUsed);
    void this.drop(idle.slice(this.idleLimit));
  }

  private async drop(entries: [string, Entry][]): Promise<number> {
    for (const [key] of entries) this.entries.delete(key);
    await Promise.all(entries.map(async ([, e]) => (await e.created.catch(() => null))?.session.release()));
    return entries.length;
  }
}
