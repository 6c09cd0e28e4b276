// The nst library: the NST class and the pieces it is made of.
export { NST, type ImageInput, type NSTOptions, type GenerateOptions } from './nst.js';
export { FeatureModel, VGG19_CONV_NAMES, type Pooling } from './features.js';
export { gramMatrix, layerStyleCost, styleCost, contentCost, variationalCost } from './costs.js';
export { Adam, optimize, NonFiniteCostError, type Costs, type ProgressEvent } from './optimizer.js';
export { readImage, writeImage, scaleImage, resizeBicubic, vggPreprocess, checkOutputPath } from './preprocess.js';
export { ensureWeights, locateWeights, readConvWeights, verifyWeightsFile } from './weights.js';
export { selectBackend, describeBackend, BACKEND_NAMES, type BackendName, type BackendInfo } from './backend.js';
export { InputError } from './errors.js';
