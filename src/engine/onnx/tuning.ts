import type { ConvLowering } from '../graph/convolutions.js';

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
  /** Max pooling's gradient by MaxPool's Indices or by a mask of the maxima (graph/rules.ts). */
  maxPoolGradient: 'indices' | 'mask';
  /** The 3×3 convolutions: ONNX's Conv, Winograd's F(2×2) or F(4×4), or per layer as measured ('auto'). */
  convolution: ConvLowering;
  /** ONNX Runtime's graph optimisation level. */
  optimization: 'disabled' | 'basic' | 'extended' | 'all';
  memoryArena: boolean;
  memoryPattern: boolean;
  /** Whether idle intra-op threads spin waiting for work. */
  spinning: boolean;
  /** Execution providers in order of preference (default: the best this machine has). */
  providers?: readonly string[];
}
