import { runtimeSuite } from './runtime-suite.js';

runtimeSuite({ name: 'onnx', cost: 1e-5, gradient: 1e-4 });
