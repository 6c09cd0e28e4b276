// The picture readings of finished outputs (bench/readability.ts, bench/painted.ts), for pictures
// made by the command outside the benchmarks that take them themselves.
//   node dist/bench/readings.js OUTPUT.png:PHOTO:PAINTING [...]
import { selectBackend } from '../src/engine/tfjs/backend.js';
import { paintedOfFiles } from './painted.js';
import { readabilityOfFiles } from './readability.js';

await selectBackend('cpu');
console.log('| output | readability | palette | texture |');
console.log('| --- | --- | --- | --- |');
for (const triple of process.argv.slice(2)) {
  const [output, photo, painting] = triple.split(':');
  if (!output || !photo || !painting) throw new Error(`expected OUTPUT:PHOTO:PAINTING, got ${triple}`);
  const { palette, texture } = await paintedOfFiles(output, photo, painting);
  const readability = await readabilityOfFiles(output, photo);
  console.log(`| ${output} | ${readability.toFixed(3)} | ${palette.toFixed(3)} | ${texture.toFixed(3)} |`);
}
