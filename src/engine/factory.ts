/**
 * Picks and loads an engine from a registry of runtimes. Each runtime's folder is imported only
 * when it is asked for, so that the command can parse its flags and answer `--help` without
 * loading any of them.
 */
import { InputError } from '../errors.js';
import type { Engine, EngineName, EngineOptions } from './evaluator.js';

type Runtime = Exclude<EngineName, 'auto'>;

/** How each runtime is loaded; a failure to load throws. */
const RUNTIMES: Readonly<Record<Runtime, (options: EngineOptions) => Promise<Engine>>> = {
  onnx: async (options) => (await import('./onnx/engine.js')).createOnnxEngine(options, 'native'),
  'onnx-wasm': async (options) => (await import('./onnx/engine.js')).createOnnxEngine(options, 'wasm'),
  tensorflow: (options) => tfjs(options, 'tensorflow'),
  wasm: (options) => tfjs(options, 'wasm'),
  cpu: (options) => tfjs(options, 'cpu'),
};

/** A TensorFlow.js backend, or under `auto` the fastest of them that loads (tfjs/backend.ts). */
async function tfjs(options: EngineOptions, backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu'): Promise<Engine> {
  return (await import('./tfjs/engine.js')).createTfjsEngine({ ...options, engine: backend });
}

/**
 * `auto`: ONNX Runtime's native build first, because it computes an evaluation in about a third
 * of the time of the fastest TensorFlow.js backend that installs everywhere (bench/README.md,
 * "ONNX engine"); where it cannot load, its WebAssembly build (as fast as TensorFlow.js's wasm
 * backend, with the whole objective: bench/README.md, "onnxruntime-web"); then TensorFlow.js.
 */
async function auto(options: EngineOptions): Promise<Engine> {
  for (const runtime of ['onnx', 'onnx-wasm'] as const) {
    try {
      return await RUNTIMES[runtime](options);
    } catch {
      // the next one
    }
  }
  return tfjs(options, 'auto');
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const name = options.engine ?? 'auto';
  if (name === 'auto') return auto(options);
  if (name !== 'onnx' && name !== 'onnx-wasm') return RUNTIMES[name](options);
  try {
    return await RUNTIMES[name](options);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const pkg = name === 'onnx' ? 'onnxruntime-node' : 'onnxruntime-web';
    throw new InputError(`backend ${name} cannot be loaded: install ${pkg} (${reason})`, { setting: 'backend' });
  }
}
