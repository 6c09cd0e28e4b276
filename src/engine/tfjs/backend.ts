import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import { defaultThreads } from '../evaluator.js';

const require = createRequire(import.meta.url);

/**
 * The TensorFlow.js backends, which hold the command's images and the optimisers' tensors and run
 * the NST class: `tensorflow` is the native binding (GPU build first, then CPU build).
 */
export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The TensorFlow.js backend that runs: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** The package that provided it. */
  package: string;
  /** For the native backend: whether TensorFlow sees a GPU. */
  gpu: boolean;
  /** Threads doing the work (wasm: 1 unless its threaded build started). */
  threads: number;
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** The native packages are optional dependencies whose install needs the internet; load them lazily. */
async function loadNative(): Promise<BackendInfo | null> {
  for (const pkg of NATIVE_PACKAGES) {
    try {
      await import(pkg);
    } catch {
      continue; // not installed, or its libtensorflow is missing
    }
    if (await tf.setBackend('tensorflow')) {
      // tfjs-node's backend says whether its TensorFlow build found a CUDA device.
      const gpu = Boolean((tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice);
      return { name: 'tensorflow', package: pkg, gpu, threads: 0 };
    }
  }
  return null;
}

interface WasmModule {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}
interface EmscriptenThreads {
  wasm?: { PThread?: { runningWorkers?: { unref(): void }[] } };
}

/**
 * Starts the threaded SIMD build of the wasm backend in Node. Its pthread workers are normally
 * started from a Blob URL, which Node's worker_threads cannot load; the package also ships the
 * worker as source text and the Emscripten glue as a file, so we write the worker to a temporary
 * file that loads the glue from disk, and hand Emscripten that path instead of a Blob URL.
 */
async function startThreadedWasm(wasm: WasmModule, threads: number): Promise<boolean> {
  const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  const glue = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const os = require('node:os') as typeof import('node:os');
  const workerFile = path.join(os.tmpdir(), `nst-wasm-worker-${process.pid}.js`);
  // The text holds raw newlines inside string literals, which must be escaped again to parse as a
  // file; the wrapper swaps the Blob of the 'load' message for the glue's path.
  fs.writeFileSync(
    workerFile,
    wasmWorkerContents.replace(/\n/g, '\\n') +
      `;const load=self.onmessage;self.onmessage=e=>{if(e.data.cmd==='load')e.data.urlOrBlob=${JSON.stringify(glue)};return load(e)};`,
  );
  const { createObjectURL } = URL;
  const { cpus } = os;
  URL.createObjectURL = () => workerFile;
  // The backend caps its thread pool at half the logical cores it sees (assuming hyper-threads).
  os.cpus = () => Array.from({ length: 2 * threads }, () => cpus()[0]!);
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) return false;
    // The pool's workers wait forever for work: they must not keep the process alive.
    (tf.backend() as unknown as EmscriptenThreads).wasm?.PThread?.runningWorkers?.forEach((w) => w.unref());
    return true;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    fs.rmSync(workerFile, { force: true });
  }
}

async function loadWasm(threads: number): Promise<BackendInfo | null> {
  const info = { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', gpu: false };
  try {
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmModule;
    if (threads > 1) {
      try {
        if (await startThreadedWasm(wasm, threads)) return { ...info, threads: wasm.getThreadsCount() };
      } catch {
        // fall back to one thread below
      }
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      const factory = tf.findBackendFactory('wasm');
      tf.removeBackend('wasm');
      tf.registerBackend('wasm', factory, 2);
    }
    if (await tf.setBackend('wasm')) return { ...info, threads: 1 };
  } catch {
    // fall through: the caller decides whether that is an error
  }
  return null;
}

async function loadCpu(): Promise<BackendInfo | null> {
  return (await tf.setBackend('cpu')) ? { name: 'cpu', package: '@tensorflow/tfjs', gpu: false, threads: 1 } : null;
}

/**
 * Chooses and initialises the TensorFlow.js backend. `auto` tries the native GPU build, the native
 * CPU build, WebAssembly, then the plain JavaScript CPU backend. An explicitly requested backend
 * that cannot load is an error naming the package to install.
 */
export async function selectBackend(name: BackendName = 'auto', threads = defaultThreads()): Promise<BackendInfo> {
  // Production mode: no debug checks, and no advice banner from the JavaScript backend on stderr.
  tf.enableProdMode();
  const loaders: Record<Exclude<BackendName, 'auto'>, () => Promise<BackendInfo | null>> = {
    tensorflow: loadNative,
    wasm: () => loadWasm(threads),
    cpu: loadCpu,
  };
  const order: Exclude<BackendName, 'auto'>[] = name === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [name];
  for (const candidate of order) {
    const info = await loaders[candidate]();
    if (info) {
      await tf.ready();
      return info;
    }
  }
  const hint: Record<BackendName, string> = {
    tensorflow: 'install @tensorflow/tfjs-node-gpu (NVIDIA GPU with CUDA) or @tensorflow/tfjs-node (CPU)',
    wasm: 'install @tensorflow/tfjs-backend-wasm',
    cpu: 'reinstall @tensorflow/tfjs',
    auto: 'reinstall nst',
  };
  throw new InputError(`backend ${name} cannot be loaded: ${hint[name]}`, { setting: 'backend' });
}
