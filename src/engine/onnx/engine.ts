/**
 * The ONNX Runtime engine: the objective and its derived gradient as one graph per working size,
 * run by ONNX Runtime's native kernels (WebGPU, CUDA, DirectML or CoreML where asked for or found,
 * else its CPU kernels), and the optimisers' arithmetic where it pays (L-BFGS on the CPU's
 * threads or the WebGPU device, Adam on the device). TensorFlow.js holds the images between
 * evaluations, on its WebAssembly backend.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  Engine,
  EngineInfo,
  EngineOptions,
  Evaluator,
  Objective,
  TargetImages,
  TileKernel,
} from '../evaluator.js';
import { defaultThreads } from '../evaluator.js';
import { selectBackend } from '../tfjs/backend.js';
import { createOnnxEvaluator, type GraphSettings } from './evaluator.js';
import { loadRuntime, ort, RUNTIME_PACKAGES, runtimeBuild, type RuntimeBuild } from './runtime.js';
import { slotsOf } from '../regions.js';
import { onnxMemoryModel } from './memory.js';
import { OnnxLbfgs } from './lbfgs.js';
import { OnnxAdam } from './adam.js';
import { describeAdapter, findAdapter } from './adapter.js';
import type { AdamKernels, LbfgsRuntime } from '../../optim/types.js';
import { defaultProviders, probeProvider, providersOf, SessionCache } from './session.js';
import { RecentStyles } from '../targets.js';
import { computeOnnxTargets, featuresKey, featuresSession } from './targets.js';
import { createOnnxTileKernel } from './tiles.js';
import { CONV_LOWERINGS, type ConvLowering } from '../graph/convolutions.js';
import { InputError } from '../../errors.js';

/** The graph and session settings that measured fastest on the CPU (bench/README.md, "ONNX engine"). */
export const DEFAULT_GRAPH: Omit<GraphSettings, 'threads'> = {
  dims: 'fixed',
  backwardConv: 'conv',
  reluMask: 'where',
  maxPoolGradient: 'indices',
  convolution: 'auto',
  optimization: 'all',
  memoryArena: true,
  memoryPattern: false,
  spinning: false,
};

/**
 * Evaluation sessions kept idle for later evaluators (the next batch job at the same sizes): an
 * idle session keeps its weights and its arena, so a coarse-to-fine run does not keep every
 * scale's. The features graph is released after each use: it is built in half a second and
 * holds a copy of the weights (measured in bench/README.md, "ONNX engine").
 */
const IDLE_SESSIONS = 2;

/**
 * Tile sessions kept idle: one kernel's pair (sums and gradient), for the next working size's
 * tiles, which have the same size.
 */
const IDLE_TILE_SESSIONS = 2;

const FEATURES = (graph: GraphSettings): GraphSettings => ({ ...graph, memoryArena: false });

export class OnnxEngine implements Engine {
  private readonly sessions = new SessionCache(IDLE_SESSIONS);
  private readonly featureSessions = new SessionCache(0);
  private readonly tileSessions = new SessionCache(IDLE_TILE_SESSIONS);
  private readonly styleCache = new RecentStyles();
  /** The provider the sessions run on: the first one asked for until a session says otherwise. */
  private provider: string;
  /** By device: the evaluation's provider may change when a session falls back to the CPU. */
  private readonly lbfgsRuntimes = new Map<'cpu' | 'webgpu', OnnxLbfgs>();
  private adamKernels: OnnxAdam | null = null;

  /**
   * @param note why the engine does not run where `auto` would have put it (a GPU that did not
   *   start), for the line that says what runs.
   */
  constructor(
    private readonly weights: string,
    readonly graph: GraphSettings,
    private readonly note?: string,
  ) {
    this.provider = (graph.providers ?? defaultProviders())[0]!;
  }

  get info(): EngineInfo {
    const build = runtimeBuild ?? 'native';
    const name = build === 'wasm' ? 'onnx-wasm' : 'onnx';
    const pkg = RUNTIME_PACKAGES[build];
    // The build's own version (onnxruntime-web's package.json is not among its exports).
    const versions = ort.env.versions as Record<string, string | undefined>;
    const version = versions[build === 'wasm' ? 'web' : 'node'] ?? versions['common'];
    const { threads } = this.graph;
    const adapter = this.provider === 'webgpu' ? findAdapter() : undefined;
    const where =
      adapter === undefined ? '' : ` on ${adapter ? describeAdapter(adapter) : 'an adapter the system does not name'}`;
    const provider = `${this.provider} execution provider${where}`;
    const note = this.note ? `; ${this.note}` : '';
    const description = `backend: ${name} (${pkg} ${version}, ${provider}, ${threads} thread${threads === 1 ? '' : 's'}${note})`;
    const gpu = this.provider !== 'cpu' && this.provider !== 'wasm';
    return { name, package: pkg, gpu, threads, description };
  }

  /**
   * L-BFGS's pairs and arithmetic on the WebGPU device when the evaluation runs there, else on
   * the native build's CPU threads (CUDA, DirectML and CoreML sessions cannot keep an output on
   * their device in onnxruntime-node); the WebAssembly build would copy the pairs into its heap
   * at every run, so there L-BFGS stays on TensorFlow.js.
   */
  get lbfgs(): LbfgsRuntime | undefined {
    if (runtimeBuild === 'wasm') return undefined;
    const device = this.provider === 'webgpu' ? 'webgpu' : 'cpu';
    let runtime = this.lbfgsRuntimes.get(device);
    if (!runtime) this.lbfgsRuntimes.set(device, (runtime = new OnnxLbfgs(this.graph.threads, device)));
    return runtime;
  }

  /**
   * Adam's update on the WebGPU device when the evaluation runs there; elsewhere TensorFlow.js'
   * (undefined): on the CPU its nine passes inside its own heap take half the time of the ONNX
   * graph's eleven and the copies of its outputs (2.7 against 5.4 ms at 384×512 on 2 cores,
   * bench/README.md "The optimisation on the device").
   */
  get adam(): AdamKernels | undefined {
    if (this.provider !== 'webgpu') return undefined;
    return (this.adamKernels ??= new OnnxAdam({ threads: this.graph.threads, providers: ['webgpu'] }));
  }

  get memory() {
    // On WebGPU the device's memory is counted apart (lavapipe's too: the tests' stand-in for a GPU).
    const adapter = this.provider === 'webgpu' ? findAdapter() : undefined;
    const device =
      adapter === undefined ? undefined : { name: adapter?.name ?? 'WebGPU adapter', memory: adapter?.memory ?? null };
    return onnxMemoryModel(runtimeBuild === 'wasm', this.graph.convolution, device);
  }

  get cached(): { models: number; styleTargets: number } {
    return { models: this.sessions.size + this.tileSessions.size, styleTargets: this.styleCache.size };
  }

  async createEvaluator(objective: Objective, images: TargetImages): Promise<Evaluator> {
    const { weights, graph } = this;
    // The features graph runs a few times per working size: without its own memory arena its
    // activations go back when it ends instead of staying beside the evaluation's (−0.3 GB at 512 px).
    const features = await this.featureSessions.acquire(featuresKey(weights, objective, FEATURES(graph)), () =>
      featuresSession(weights, objective, FEATURES(graph)),
    );
    let targets;
    this.styleCache.trim();
    try {
      targets = await computeOnnxTargets(features.session, objective, images, this.styleCache, FEATURES(graph));
    } finally {
      features.release();
    }
    const [, h, w] = images.content.shape;
    try {
      // With regions, the evaluation runs over their style slots, each with its weight map.
      const slots = images.regions ? slotsOf(objective, images.regions, [h, w]) : null;
      const evaluated = slots?.objective ?? objective;
      const feeds = { ...targets, styleMaps: slots?.maps, temporal: images.temporal };
      const evaluator = await createOnnxEvaluator(this.sessions, weights, evaluated, feeds, [h, w], graph);
      this.provider = evaluator.provider;
      return evaluator;
    } finally {
      // The evaluator copied them into its feeds.
      tf.dispose([...targets.style, ...targets.content]);
    }
  }

  /** Two sessions per tile size (with fixed dims): pass 1's sums graph and pass 2's gradient graph. */
  async createTileKernel(objective: Objective, size: readonly [number, number]): Promise<TileKernel> {
    const kernel = await createOnnxTileKernel(this.tileSessions, this.weights, objective, size, this.graph);
    this.provider = kernel.provider;
    return kernel;
  }

  dispose(): void {
    void this.sessions.clear();
    void this.tileSessions.clear();
    void this.featureSessions.clear();
    for (const runtime of this.lbfgsRuntimes.values()) runtime.release();
    this.lbfgsRuntimes.clear();
    this.adamKernels?.release();
    this.styleCache.clear();
  }
}

/** The environment variable that overrides how the convolutions are computed (for measurements). */
export const CONV_ENV = 'NST_CONV';

/** `$NST_CONV` (auto, direct, winograd2 or winograd4), or the default. */
export function convolutionFromEnv(env: NodeJS.ProcessEnv): ConvLowering {
  const value = env[CONV_ENV];
  if (value === undefined || value === '') return DEFAULT_GRAPH.convolution;
  if (!(CONV_LOWERINGS as readonly string[]).includes(value))
    throw new InputError(`${CONV_ENV} must be one of ${CONV_LOWERINGS.join(', ')}, not "${value}"`);
  return value as ConvLowering;
}

/**
 * Loads ONNX Runtime's `build` (a failure to load is an error the caller words) and TensorFlow.js'
 * WebAssembly backend, single-threaded, for the tensors around it.
 */
export async function createOnnxEngine(options: EngineOptions, build: RuntimeBuild = 'native'): Promise<OnnxEngine> {
  const threads = options.threads ?? defaultThreads();
  await loadRuntime(build, threads);
  // The tensors around the graph need no thread pool: the optimisers' arithmetic is elementwise,
  // which the wasm backend runs on one thread anyway, and the pool's workers cost ~400 MiB.
  await selectBackend('wasm', 1);
  const convolution = options.onnx?.convolution ?? convolutionFromEnv(process.env);
  const device = options.device ?? 'auto';
  let providers = options.onnx?.providers ?? providersOf(device);
  let note: string | undefined;
  if (device !== 'auto' && device !== 'cpu') await probeProvider(providers[0]!, threads);
  else if (device === 'auto' && providers[0] === 'webgpu') {
    // `auto` found a GPU: one that does not start leaves the run on the CPU, with a note.
    try {
      await probeProvider('webgpu', threads);
    } catch (error) {
      if (providers.length === 1) throw error; // nothing to fall back to
      note = `the GPU did not start (${(error as Error).message.replace(/^device webgpu cannot start: /, '')}), so the CPU runs`;
      providers = providers.slice(1);
    }
  }
  // WebGPU's MaxPool has no Indices output (measured: "The Indices output is not supported yet").
  const maxPoolGradient = providers[0] === 'webgpu' ? 'mask' : DEFAULT_GRAPH.maxPoolGradient;
  const graph = { ...DEFAULT_GRAPH, maxPoolGradient, ...options.onnx, convolution, providers, threads };
  return new OnnxEngine(options.weights, graph, note);
}
