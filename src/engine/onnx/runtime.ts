/**
 * Which build of ONNX Runtime the engine runs on, loaded once per process: the native one
 * (onnxruntime-node: its CPU kernels, CUDA, DirectML, CoreML) or, where that cannot load, the
 * WebAssembly one (onnxruntime-web), which runs the same graphs anywhere Node runs. The other
 * modules of onnx/ use `ort` as they would the package.
 */
import type * as Ort from 'onnxruntime-common';

export type { Ort };
export type RuntimeBuild = 'native' | 'wasm';

/** The loaded build's API (set by loadRuntime before any session is made). */
export let ort: typeof Ort = undefined as never;
/** Which build `ort` is, once loaded. */
export let runtimeBuild: RuntimeBuild | null = null;

/** The package each build comes from. */
export const RUNTIME_PACKAGES: Readonly<Record<RuntimeBuild, string>> = {
  native: 'onnxruntime-node',
  wasm: 'onnxruntime-web',
};

/**
 * Loads a build (a failure to load throws, for the caller to word). One build per process: the
 * WebAssembly build's thread count is global and fixed when its first session starts.
 */
export async function loadRuntime(build: RuntimeBuild, threads: number): Promise<void> {
  if (runtimeBuild === build) return;
  if (runtimeBuild) throw new Error(`ONNX Runtime's ${runtimeBuild} build is already loaded in this process`);
  const module = (build === 'native'
    ? await import('onnxruntime-node')
    : await import('onnxruntime-web')) as unknown as typeof Ort;
  if (build === 'wasm') module.env.wasm.numThreads = threads;
  // ONNX Runtime's own log lines on stderr (an execution provider that cannot start, say): its
  // failures come back as errors, which the caller words in one line.
  module.env.logLevel = 'fatal';
  ort = module;
  runtimeBuild = build;
}

/** The loaded build, or the native one, or where that cannot load the WebAssembly one. */
export async function ensureRuntime(threads: number): Promise<void> {
  if (runtimeBuild) return;
  try {
    await loadRuntime('native', threads);
  } catch {
    await loadRuntime('wasm', threads);
  }
}
