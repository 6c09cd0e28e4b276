import * as tf from '@tensorflow/tfjs';
import { InputError } from './errors.js';

/** What `--backend` accepts. `tensorflow` is the native binding (GPU build first, then CPU build). */
export const BACKEND_NAMES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendInfo {
  /** The TensorFlow.js backend that runs: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** The package that provided it. */
  package: string;
  /** For the native backend: whether TensorFlow sees a GPU. */
  gpu: boolean;
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
      return { name: 'tensorflow', package: pkg, gpu };
    }
  }
  return null;
}

async function loadWasm(): Promise<BackendInfo | null> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) return { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', gpu: false };
  } catch {
    // fall through: the caller decides whether that is an error
  }
  return null;
}

async function loadCpu(): Promise<BackendInfo | null> {
  return (await tf.setBackend('cpu')) ? { name: 'cpu', package: '@tensorflow/tfjs', gpu: false } : null;
}

/**
 * Chooses and initialises the TensorFlow.js backend. `auto` tries the native GPU build, the native
 * CPU build, WebAssembly, then the plain JavaScript CPU backend. An explicitly requested backend
 * that cannot load is an error naming the package to install.
 */
export async function selectBackend(name: BackendName = 'auto'): Promise<BackendInfo> {
  const loaders: Record<Exclude<BackendName, 'auto'>, () => Promise<BackendInfo | null>> = {
    tensorflow: loadNative,
    wasm: loadWasm,
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
  throw new InputError(`backend ${name} cannot be loaded: ${hint[name]}`);
}

/** One line for stderr saying what runs. */
export function describeBackend(info: BackendInfo): string {
  if (info.name === 'tensorflow') return `backend: tensorflow (${info.package}, ${info.gpu ? 'GPU visible' : 'no GPU visible, running on CPU'})`;
  return `backend: ${info.name} (${info.package})`;
}
