// Video: the optical flow's accuracy and time on known pans of a real photo, and `nst video` on a
// panned clip (a folder of frames cut from the photo, moving a known number of pixels a frame):
// the warp error (the mean absolute difference between each output frame and the previous one
// moved by the known pan) and the time per frame, for each temporal weight asked for.
//   node dist/bench/video.js [--size 256] [--frames 8] [--pan 4] [--weights 0,2e6]
//                            [--frame-iterations 100] [--flow-only] [--keep DIR] [--out FILE]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { greyOf, opticalFlow } from '../src/core/flow.js';
import { readImage, writeImage } from '../src/io/images.js';
import { CONTENT, STYLE, WEIGHTS } from './common.js';
import { option } from './options.js';

const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/nst');

const SIZE = Number(option('size', '256'));
const FRAMES = Number(option('frames', '8'));
const PAN = Number(option('pan', '4'));
const WEIGHT_LIST = option('weights', '0,2e6').split(',').map(Number);
const FRAME_ITERATIONS = option('frame-iterations', '100');
const KEEP = option('keep', '');
const OUT = option('out', '');

/** The photo at a size where a SIZE × 3/4 window can pan FRAMES × PAN px: RGB [h·w·3] in [0, 1], with its size. */
async function source(): Promise<{ data: Float32Array; width: number; height: number }> {
  const raw = await readImage(CONTENT, 'photo'); // 0..255
  const image = tf.tidy(() => tf.div(raw, 255) as tf.Tensor3D);
  raw.dispose();
  const width = Math.round(SIZE * 1.25 + FRAMES * PAN);
  const height = Math.round((width * image.shape[0]) / image.shape[1]);
  const scaled = tf.tidy(() => tf.image.resizeBilinear(image, [height, width]) as tf.Tensor3D);
  image.dispose();
  const data = (await scaled.data()) as Float32Array;
  scaled.dispose();
  return { data, width, height };
}

/** The window of w × h at (x0, y0) of an RGB image. */
function crop(src: { data: Float32Array; width: number }, x0: number, y0: number, w: number, h: number) {
  const out = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = src.data[((y + y0) * src.width + x + x0) * 3 + c]!;
  return out;
}

/** Mean end-point error and milliseconds of the flow between crops moved by (u, v), away from the borders. */
function flowRow(src: Awaited<ReturnType<typeof source>>, u: number, v: number) {
  const [w, h] = [SIZE, Math.round((SIZE * 3) / 4)];
  const [x0, y0] = [20, 10];
  // second(p + (u, v)) = first(p): the second window sits (−u, −v) from the first.
  const first = greyOf(crop(src, x0, y0, w, h), w, h);
  const second = greyOf(crop(src, x0 - u, y0 - v, w, h), w, h);
  const start = performance.now();
  const flow = opticalFlow(first, second);
  const ms = performance.now() - start;
  const margin = 8 + Math.max(Math.abs(u), Math.abs(v));
  let sum = 0;
  let n = 0;
  for (let y = margin; y < h - margin; y++)
    for (let x = margin; x < w - margin; x++, n++) sum += Math.hypot(flow.u[y * w + x]! - u, flow.v[y * w + x]! - v);
  return { shift: [u, v], size: [w, h], endPointError: sum / n, ms };
}

/** Runs the command; its JSON events. */
function nst(args: string[]): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NST_WEIGHTS: WEIGHTS },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`nst ${args.join(' ')} exited with ${code}`));
      else
        resolve(
          out
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as Record<string, unknown>),
        );
    });
  });
}

/** The mean |out_t(p) − out_{t−1}(p + pan)| over the frames and the pixels both see, in levels (readImage's 0..255). */
async function warpError(dir: string, frames: number): Promise<number> {
  let sum = 0;
  let n = 0;
  let previous: { data: Float32Array; w: number; h: number } | null = null;
  for (let t = 1; t <= frames; t++) {
    const image = await readImage(path.join(dir, `${String(t).padStart(6, '0')}.png`), 'frame');
    const [h, w] = image.shape;
    const data = (await image.data()) as Float32Array;
    image.dispose();
    if (previous) {
      for (let y = 0; y < h; y++)
        for (let x = 0; x + PAN < w; x++)
          for (let c = 0; c < 3; c++, n++)
            sum += Math.abs(data[(y * w + x) * 3 + c]! - previous.data[(y * w + x + PAN) * 3 + c]!);
    }
    previous = { data, w, h };
  }
  return sum / n;
}

async function clipRow(src: Awaited<ReturnType<typeof source>>, weight: number, root: string) {
  const [w, h] = [SIZE, Math.round((SIZE * 3) / 4)];
  const frames = path.join(root, 'frames');
  if (!fs.existsSync(frames)) {
    fs.mkdirSync(frames, { recursive: true });
    // The window moves right by PAN px a frame: the scene moves left.
    for (let t = 0; t < FRAMES; t++) {
      const image = tf.tensor3d(crop(src, t * PAN, 0, w, h), [h, w, 3]);
      await writeImage(path.join(frames, `${String(t + 1).padStart(6, '0')}.png`), image);
      image.dispose();
    }
  }
  const out = path.join(root, `w${weight}`) + path.sep;
  const start = Date.now();
  const args = ['video', frames, STYLE, '-o', out, '--size', String(SIZE), '--json'];
  const events = await nst([...args, '--temporal-weight', String(weight), '--frame-iterations', FRAME_ITERATIONS]);
  const seconds = (Date.now() - start) / 1000;
  const done = events.filter((e) => e['event'] === 'frame') as {
    elapsedMs: number;
    flowSeconds: number;
    iterations: number;
  }[];
  const later = done.slice(1);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    temporalWeight: weight,
    frames: FRAMES,
    size: [w, h],
    seconds,
    firstFrameSeconds: done[0]!.elapsedMs / 1000,
    laterFrameSeconds: mean(later.map((e) => e.elapsedMs / 1000)),
    laterFrameIterations: mean(later.map((e) => e.iterations)),
    flowSeconds: mean(later.map((e) => e.flowSeconds)),
    warpError: await warpError(out, FRAMES),
    inputWarpError: await warpError(frames, FRAMES),
  };
}

const src = await source();
const flows = [
  [3, -2],
  [7, 5],
  [-12, 3],
].map(([u, v]) => flowRow(src, u!, v!));
console.log(`| pan (px) | frame | mean end-point error (px) | ms per flow |`);
console.log(`| --- | --- | --- | --- |`);
for (const r of flows)
  console.log(`| ${r.shift.join(', ')} | ${r.size.join('×')} | ${r.endPointError.toFixed(3)} | ${r.ms.toFixed(0)} |`);
const clips = [];
if (!process.argv.includes('--flow-only')) {
  const root = KEEP || fs.mkdtempSync(path.join(os.tmpdir(), 'nst-video-'));
  console.log(
    `\n| --temporal-weight | frames | wall s | first frame s | later frame s (iterations) | flow s | warp error (levels) | the input's |`,
  );
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const weight of WEIGHT_LIST) {
    const r = await clipRow(src, weight, root);
    clips.push(r);
    console.log(
      `| ${weight} | ${r.frames} | ${r.seconds.toFixed(1)} | ${r.firstFrameSeconds.toFixed(1)} | ${r.laterFrameSeconds.toFixed(1)} (${r.laterFrameIterations.toFixed(0)}) | ${r.flowSeconds.toFixed(2)} | ${r.warpError.toFixed(2)} | ${r.inputWarpError.toFixed(2)} |`,
    );
  }
  if (!KEEP) fs.rmSync(root, { recursive: true, force: true });
}
if (OUT) fs.writeFileSync(OUT, `${JSON.stringify({ date: new Date().toISOString(), flows, clips }, null, 2)}\n`);
