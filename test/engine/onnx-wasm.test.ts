// ONNX Runtime's WebAssembly build, in a process of its own (one build per process).
import { runtimeSuite } from './runtime-suite.js';

runtimeSuite({ name: 'onnx-wasm', cost: 1e-5, gradient: 1e-4 });
