import { runtimeSuite } from './runtime-suite.js';

runtimeSuite({ name: 'onnx', cost: 1e-5, gradient: 1e-4, styleLosses: ['gram', 'w2'] });
runtimeSuite({ name: 'wasm', cost: 1e-4, gradient: 1e-3, styleLosses: ['gram'] });
