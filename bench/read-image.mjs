// The time and peak memory of reading an image as `nst stylize` does (shrunk to --size as it is
// read), behind the default --max-input-pixels (README "Input images"). After `npm run build`:
//   node bench/read-image.mjs make jpg 5000 /tmp/25mp.jpg   # a worst case: noise, quality 90
//   node bench/read-image.mjs make png 5000 /tmp/25mp.png
//   node bench/read-image.mjs /tmp/25mp.jpg [size]          # one file per process: the peak is its own
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import jpeg from 'jpeg-js';
import { readImage } from '../dist/src/io/images.js';

/** A side × side image of ramps and noise, as a PNG (deflate level 1) or a JPEG. */
function make(kind, side, file) {
  let seed = 1;
  const noise = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  if (kind === 'jpg') {
    const data = Buffer.alloc(side * side * 4, 255);
    for (let i = 0; i < side * side; i++)
      [data[4 * i], data[4 * i + 1], data[4 * i + 2]] = [i % side, i / side, noise()];
    fs.writeFileSync(file, jpeg.encode({ data, width: side, height: side }, 90).data);
    return;
  }
  const row = 1 + side * 3;
  const raw = Buffer.alloc(row * side);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side * 3; x++) raw[y * row + 1 + x] = ((x + y) & 255) ^ (noise() >> 4);
  const chunk = (type, data) => {
    const out = Buffer.alloc(data.length + 12);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])), data.length + 8);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  [ihdr[8], ihdr[9]] = [8, 2];
  const idat = chunk('IDAT', zlib.deflateSync(raw, { level: 1 }));
  fs.writeFileSync(
    file,
    Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), idat, chunk('IEND', Buffer.alloc(0))]),
  );
}

const [first, ...rest] = process.argv.slice(2);
if (first === 'make') make(rest[0], Number(rest[1]), rest[2]);
else {
  const start = performance.now();
  const image = await readImage(first, 'image', { maxInputPixels: 1e9, maxSide: Number(rest[0] ?? 512) });
  const seconds = ((performance.now() - start) / 1000).toFixed(2);
  const peak = (process.resourceUsage().maxRSS / 1024).toFixed(0);
  console.log(`${first}: read as ${image.shape.join('×')} in ${seconds} s, peak resident memory ${peak} MB`);
}
