// What onnxruntime-node's WebGPU provider lets an output do (issue 28: state that stays on the
// device between runs): kept as a GPU buffer (`preferredOutputLocation: 'gpu-buffer'`, per
// output), fed back as the next run's input, and brought to the host by a second session whose
// output is on the CPU. `tensor.getData()` on such an output ends the process in 1.31.1 ("terminate
// called after throwing an instance of 'char const*'"), so it is not tried here.
//   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json node dist/bench/gpu-buffers.js
import * as ort from 'onnxruntime-node';
import { GraphBuilder, int } from '../src/engine/graph/builder.js';

const step = new GraphBuilder('step');
const x = step.input('x', [4]);
step.output('next', step.op('Add', [x, step.scalar(1)]));
step.output('sum', step.op('ReduceSum', [x], { keepdims: int(0) }));
const session = await ort.InferenceSession.create(step.encode(), {
  executionProviders: ['webgpu'],
  preferredOutputLocation: { next: 'gpu-buffer', sum: 'cpu' },
});
let state: ort.Tensor = new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]);
for (let i = 0; i < 3; i++) {
  const out = await session.run({ x: state });
  console.log(
    `run ${i}: next on ${out['next']!.location}, sum on ${out['sum']!.location} = ${(out['sum']!.data as Float32Array)[0]}`,
  );
  if (i > 0) state.dispose();
  state = out['next']!;
}
const identity = new GraphBuilder('download');
identity.output('host', identity.op('Identity', [identity.input('x', [4])]));
const download = await ort.InferenceSession.create(identity.encode(), { executionProviders: ['webgpu'] });
const host = (await download.run({ x: state }))['host']!;
console.log(`downloaded through a session: ${host.location} [${Array.from(host.data as Float32Array).join(', ')}]`);
