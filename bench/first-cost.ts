// The cost of the initial image (the content image) on each engine against a float64 reference:
// the PyTorch peer with every tensor in float64, on the same scaled images and weights.
//   node dist/bench/first-cost.js [--sizes 128,256,512]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/index.js';
import { ensureTorch, PEER_SCRIPT, preparePeerData, PYTHON, runJson, table } from './common.js';

const args = process.argv.slice(2);
const sizes = (
  args[args.indexOf('--sizes') + 1] && args.includes('--sizes') ? args[args.indexOf('--sizes') + 1]! : '128,256,512'
)
  .split(',')
  .map(Number);
await selectBackend('cpu'); // this process only scales the peer's inputs
const problem = ensureTorch();
if (problem) throw new Error(`the float64 reference is the PyTorch peer: ${problem}`);
const iterationScript = path.join(path.dirname(new URL(import.meta.url).pathname), 'iteration.js');
const rows: string[][] = [];
for (const size of sizes) {
  const data = await preparePeerData(size);
  const peer = await runJson(PYTHON, [PEER_SCRIPT, '--data', data, '--iterations', '1', '--warmup', '0', '--double']);
  fs.rmSync(data, { recursive: true, force: true });
  const reference = peer['firstCost64'] as number;
  const row = [String(size), reference.toPrecision(10)];
  for (const engine of ['onnx', 'onnx-wasm']) {
    const run = await runJson(process.execPath, [iterationScript, engine, '2', String(size), '1', '0']);
    const cost = run['firstCost'] as number;
    row.push(cost.toPrecision(10), (Math.abs(cost - reference) / reference).toExponential(1));
  }
  rows.push(row);
}
console.log(table(['size', 'float64 (PyTorch, double)', 'onnx', 'relative', 'onnx-wasm', 'relative'], rows));
