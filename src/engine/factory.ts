/**
 * Picks and loads an engine. Each engine's folder is imported only when it is asked for, so that
 * the command can parse its flags and answer `--help` without loading any of them.
 */
import { InputError } from '../errors.js';
import type { Engine, EngineOptions } from './evaluator.js';

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const name = options.engine ?? 'auto';
  if (name === 'onnx' || name === 'auto') {
    const onnx = await loadOnnx(options, name === 'onnx');
    if (onnx) return onnx;
  }
  const { createTfjsEngine } = await import('./tfjs/engine.js');
  return createTfjsEngine({ ...options, engine: name === 'onnx' ? 'auto' : name });
}

/**
 * The ONNX engine, or null when `auto` finds ONNX Runtime missing (then TensorFlow.js runs).
 * `auto` tries it first: it computes an evaluation in about a third of the time of the fastest
 * TensorFlow.js backend that installs everywhere (bench/README.md, "ONNX engine").
 */
async function loadOnnx(options: EngineOptions, required: boolean): Promise<Engine | null> {
  try {
    const { createOnnxEngine } = await import('./onnx/engine.js');
    return await createOnnxEngine(options);
  } catch (error) {
    if (!required) return null;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new InputError(`backend onnx cannot be loaded: install onnxruntime-node (${reason})`, { setting: 'backend' });
  }
}
