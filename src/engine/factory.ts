/**
 * Picks and loads an engine from a registry of runtimes. Each runtime's folder is imported only
 * when it is asked for, so that the command can parse its flags and answer `--help` without
 * loading any of them.
 */
import { InputError } from '../errors.js';
import type { Device, Engine, EngineName, EngineOptions } from './evaluator.js';

type Runtime = Exclude<EngineName, 'auto'>;

/** How each runtime is loaded, and the package it needs; a failure to load throws. */
const RUNTIMES: Readonly<Record<Runtime, { load: (options: EngineOptions) => Promise<Engine>; pkg: string }>> = {
  onnx: {
    load: async (options) => (await import('./onnx/engine.js')).createOnnxEngine(options, 'native'),
    pkg: 'onnxruntime-node',
  },
  'onnx-wasm': {
    load: async (options) => (await import('./onnx/engine.js')).createOnnxEngine(options, 'wasm'),
    pkg: 'onnxruntime-web',
  },
};

/**
 * `auto`: ONNX Runtime's native build first, the fastest engine that installs everywhere
 * (bench/README.md, "ONNX engine"); where it cannot load, its WebAssembly build, which runs the
 * same graphs anywhere Node runs (bench/README.md, "onnxruntime-web").
 */
const AUTO_ORDER: readonly Runtime[] = ['onnx', 'onnx-wasm'];

async function load(name: Runtime, options: EngineOptions): Promise<Engine> {
  try {
    return await RUNTIMES[name].load(options);
  } catch (error) {
    // A setting the runtime refused is the user's to fix, not a missing package.
    if (error instanceof InputError) throw error;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new InputError(`backend ${name} cannot be loaded: install ${RUNTIMES[name].pkg} (${reason})`, {
      setting: 'backend',
    });
  }
}

/** ONNX Runtime's WebAssembly build runs on the CPU only (in Node). */
function checkPairing(name: EngineName, device: Device): void {
  if (name === 'onnx-wasm' && device !== 'auto' && device !== 'cpu')
    throw new InputError(`device ${device} needs the onnx backend, not onnx-wasm`, { setting: 'device' });
}

/**
 * Whether a device asked for by name can start for that engine, without loading the network (a
 * queue worker checks before it takes jobs); an InputError naming the device if not.
 */
export async function checkDevice(name: EngineName = 'auto', device: Device = 'auto', threads = 1): Promise<void> {
  checkPairing(name, device);
  if (device === 'auto' || device === 'cpu') return;
  const { probeProvider } = await import('./onnx/session.js');
  await probeProvider(device, threads);
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const name = options.engine ?? 'auto';
  checkPairing(name, options.device ?? 'auto');
  if (name !== 'auto') return load(name, options);
  let failure: unknown;
  for (const runtime of AUTO_ORDER) {
    try {
      return await load(runtime, options);
    } catch (error) {
      if (error instanceof InputError && error.detail.setting !== 'backend') throw error;
      failure ??= error;
    }
  }
  throw failure;
}
