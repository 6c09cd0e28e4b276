// The nst library: the seed-compatible NST class, the stylize driver and the pieces they are made of.
export { NST, costLine, type GenerateOptions, type NSTOptions } from './nst.js';
export {
  stylize,
  checkStylizeOptions,
  type StylizeOptions,
  type StylizeProgress,
  type StylizeSummary,
  type TemporalTerm,
  type TileProgress,
  type Checkpoint,
} from './core/stylize.js';
export { PRESETS, PRESET_NAMES, PRESET_HELP, type PresetName } from './core/presets.js';
export {
  SETTINGS,
  SETTING_NAMES,
  SHAPING_NAMES,
  OPTIMIZER_NAMES,
  PRESERVE_COLORS,
  DEFAULT_STYLE_LAYERS,
  DEFAULT_CONTENT_LAYERS,
  resolveRunSettings,
  presetValues,
  withDefaults,
  type OptimizerName,
  type PreserveColors,
  type RunOptions,
  type RunSettings,
  type Setting,
  type SettingName,
  type Settings,
} from './core/settings.js';
export {
  schedule,
  scaleSizes,
  splitIterations,
  AUTO_LOWEST_START,
  AUTO_MIN_SCALE,
  AUTO_SCALES,
} from './core/schedule.js';
export { VIDEO_SETTINGS, VIDEO_SETTING_NAMES, videoSettings, type VideoSettings } from './core/video-settings.js';
export {
  consistencyWeights,
  greyOf,
  opticalFlow,
  resizeFlow,
  warpImage,
  type Flow,
  type FlowOptions,
  type Grey,
} from './core/flow.js';
export {
  planVideo,
  runVideo,
  type FrameResult,
  type PlannedVideo,
  type VideoHooks,
  type VideoJob,
  type VideoPlan,
  type VideoResult,
} from './jobs/video.js';
export { readFlo, writeFlo } from './io/flo.js';
export { initialImage, nextScaleStart, type ImageInput, type InitImage } from './core/images.js';
export { fingerprint } from './engine/targets.js';
export { resizeBicubic, scaleImage, scaledSize } from './core/resize.js';
export { saveCheckpoint, loadCheckpoint, disposeCheckpoint } from './core/checkpoint.js';
export {
  luminance,
  matchLuminance,
  matchColorHistogram,
  withContentColors,
  colorStatistics,
  rgbToYiq,
  yiqToRgb,
} from './core/color.js';
export {
  availableMemory,
  checkMemory,
  largestFittingSize,
  memoryBudget,
  scaleWork,
  tileFor,
  MemoryError,
  type AvailableMemory,
  type RunPlan,
} from './core/memory.js';
export {
  ENGINE_NAMES,
  defaultThreads,
  type Engine,
  type EngineInfo,
  type EngineName,
  type EngineOptions,
  type Evaluator,
  type Objective,
  type TargetImages,
  type TileKernel,
  type TileSums,
  type TileWeights,
} from './engine/evaluator.js';
export { type OnnxTuning } from './engine/onnx/tuning.js';
export { STYLE_LOSS_NAMES, type StyleLossName } from './engine/objective/style.js';
export { TiledEvaluator } from './engine/tiled.js';
export { tileLayout, tileGeometry, receptiveRadius, MIN_TILE_SIZE, type TileLayout } from './engine/tiles.js';
export { createEngine } from './engine/factory.js';
export { heldWeightBytes, ONNX_MEMORY_MODEL, onnxMemoryModel } from './engine/onnx/memory.js';
export { networkBytes, WASM_HEAP_LIMIT, type MemoryModel, type RunShape } from './engine/memory.js';
export { VGG19_CONV_NAMES, VGG19_CONV_SPECS, VGG19_LAYERS, modelOutputs, type Pooling } from './engine/vgg19.js';
export { selectBackend, type BackendInfo, type BackendName } from './engine/tfjs/backend.js';
export { FeatureModel } from './engine/tfjs/features.js';
export { gramMatrix, layerStyleCost, styleCost, contentCost, variationalCost } from './engine/tfjs/costs.js';
export { TfjsEvaluator, computeTargets } from './engine/tfjs/objective.js';
export { vggPreprocess } from './engine/tfjs/preprocess.js';
export { Adam, tensorAdam } from './optim/adam.js';
export { LBFGS, TENSORFLOW_LBFGS } from './optim/lbfgs.js';
export { optimize, hasConverged, type Convergence, type OptimizeOptions } from './optim/loop.js';
export {
  NonFiniteCostError,
  type Costs,
  type Evaluate,
  type Evaluation,
  type LoopState,
  type AdamKernels,
  type AdamStep,
  type LbfgsRuntime,
  type LbfgsKernels,
  type CurvaturePairs,
  type OptimizerState,
  type Optimizer,
  type OptimizeResult,
  type ProgressEvent,
  type StepResult,
  type StopReason,
} from './optim/types.js';
export { readImage, writeImage, checkOutputPath, checkWritable } from './io/images.js';
export { readImageHeader, IMAGE_EXTENSIONS, DEFAULT_MAX_INPUT_PIXELS, type ImageHeader } from './io/header.js';
export { writeFileAtomic } from './io/atomic.js';
export { ensureWeights, locateWeights, readConvWeights, verifyWeightsFile } from './io/weights.js';
export { InputError, type InputErrorDetail } from './errors.js';
