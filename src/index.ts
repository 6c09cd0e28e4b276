// The nst library: the NST class and the pieces it is made of.
export {
  NST,
  OPTIMIZER_NAMES,
  costLine,
  type ImageInput,
  type InitImage,
  type NSTOptions,
  type GenerateOptions,
  type OptimizerName,
} from './nst.js';
export {
  stylize,
  scaleSizes,
  splitIterations,
  type StylizeOptions,
  type Checkpoint,
  type RunSettings,
} from './core/stylize.js';
export { saveCheckpoint, loadCheckpoint, disposeCheckpoint } from './core/checkpoint.js';
export {
  PRESERVE_COLORS,
  luminance,
  matchLuminance,
  matchColorHistogram,
  withContentColors,
  colorStatistics,
  rgbToYiq,
  yiqToRgb,
  type PreserveColors,
} from './core/color.js';
export { FeatureModel, VGG19_CONV_NAMES, type Pooling } from './engine/tfjs/features.js';
export { gramMatrix, layerStyleCost, styleCost, contentCost, variationalCost } from './engine/tfjs/costs.js';
export {
  Adam,
  LBFGS,
  optimize,
  NonFiniteCostError,
  type Costs,
  type Evaluate,
  type Evaluation,
  type LoopState,
  type OptimizerState,
  type Optimizer,
  type OptimizeResult,
  type ProgressEvent,
  type StepResult,
  type StopReason,
} from './optim/optimizer.js';
export {
  readImage,
  writeImage,
  writeFileAtomic,
  scaleImage,
  resizeBicubic,
  vggPreprocess,
  checkOutputPath,
  checkWritable,
} from './io/images.js';
export { ensureWeights, locateWeights, readConvWeights, verifyWeightsFile } from './io/weights.js';
export {
  selectBackend,
  describeBackend,
  BACKEND_NAMES,
  type BackendName,
  type BackendInfo,
} from './engine/tfjs/backend.js';
export {
  availableMemory,
  checkMemory,
  estimateMemory,
  estimateWasmHeap,
  largestFittingSize,
  networkBytes,
  MEMORY_MODEL,
  WASM_HEAP_LIMIT,
  type AvailableMemory,
  type RunPlan,
  type RunShape,
} from './engine/memory.js';
export { InputError } from './errors.js';
