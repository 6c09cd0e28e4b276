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
  onnx: async (options) => (await import('./onnx/engine.js')).createOnnxEngine(options),
  tensorflow: (options) => tfjs(options, 'tensorflow'),
  wasm: (options) => tfjs(options, 'wasm'),
  cpu: (options) => tfjs(options, 'cpu'),
};

/** A TensorFlow.js backend, or under `auto` the fastest of them that loads (tfjs/backend.ts). */
async function tfjs(options: EngineOptions, backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu'): Promise<Engine> {
  return (await import('./tfjs/engine.js')).createTfjsEngine({ ...options, engine: backend });
}

/**
 * `auto`: ONNX Runtime first, because it computes an evaluation in about a third of the time of
 * the fastest TensorFlow.js backend that installs everywhere (bench/README.md, "ONNX engine");
 * where it cannot load, TensorFlow.js's own order.
 */
async function auto(options: EngineOptions): Promise<Engine> {
  try {
    return await RUNTIMES.onnx(options);
  } catch {
    return tfjs(options, 'auto');
  }
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const name = options.engine ?? 'auto';
  if (name === 'auto') return auto(options);
  if (name !== 'onnx') return RUNTIMES[name](options);
  try {
    return await RUNTIMES.onnx(options);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new InputError(`backend onnx cannot be loaded: install onnxruntime-node (${reason})`, { setting: 'backend' });
  }
}
