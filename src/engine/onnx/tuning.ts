/**
 * How the ONNX engine writes and runs its graphs; its defaults are the fastest measured on a CPU
 * (engine.ts DEFAULT_GRAPH, bench/README.md): for benchmarks.
 */
export interface OnnxTuning {
  /** 'fixed': a graph per working size; 'symbolic': one for every size. */
  dims: 'fixed' | 'symbolic';
  /** A convolution's input gradient as a Conv with the flipped kernel, or a ConvTranspose. */
  backwardConv: 'conv' | 'convTranspose';
  /** The ReLU mask as Where(y > 0, dy, 0) or Sign(y)·dy. */
  reluMask: 'where' | 'sign';
  /** ONNX Runtime's graph optimisation level. */
  optimization: 'disabled' | 'basic' | 'extended' | 'all';
  memoryArena: boolean;
  memoryPattern: boolean;
  /** Whether idle intra-op threads spin waiting for work. */
  spinning: boolean;
  /** Execution providers in order of preference (default: the best this machine has). */
  providers?: readonly string[];
}
