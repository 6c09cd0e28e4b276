/**
 * One video job, from files to files (`nst video`): a clip or a folder of frames, its style
 * images, an output video or folder of frames. Frames are stylised in order (Ruder, Dosovitskiy
 * and Brox, 2016): the first with the full schedule, each later one from the previous result
 * warped by the optical flow, with a temporal cost towards it where the flow can be trusted, on
 * a budget of its own. Finished frames stay on disk in a work folder as they are made, with a
 * checkpoint of the frame under way: the same command again goes on at the first missing frame.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint, disposeCheckpoint } from '../core/checkpoint.js';
import { consistencyWeights, greyOf, opticalFlow, resizeFlow, warpImage, type Flow } from '../core/flow.js';
import { resizeBicubic } from '../core/resize.js';
import type { RunSettings, Settings } from '../core/settings.js';
import type { VideoSettings } from '../core/video-settings.js';
import { InputError } from '../errors.js';
import { oneLine } from '../io/atomic.js';
import { fileIdentity } from '../io/files.js';
import { readFlo } from '../io/flo.js';
import { readImageHeader, IMAGE_EXTENSIONS } from '../io/header.js';
import { readImage, writeImage } from '../io/images.js';
import { scaledSize } from '../io/resample.js';
import {
  checkVideoTools,
  decodeFrames,
  encodeVideo,
  frameName,
  probeVideo,
  videoExtension,
  VIDEO_EXTENSIONS,
} from '../io/video.js';
import { checkRunFlags, runJob, type FrameInputs, type JobContext, type JobHooks, type JobResult } from './job.js';
import { refuseOverwrites, type Role } from './overwrite.js';

export interface VideoJob {
  /** A video file, or a folder of frames (image files, in name order). */
  input: string;
  styles: string[];
  /** A video file (.mp4, .webm, .mkv, .gif), or a folder (ending in a separator, or one that exists) for PNG frames. */
  output: string;
  /** The run settings of each frame. */
  flags: Settings;
  video: VideoSettings;
}

/** What a video job is, once checked: its frames, their size and rate, where they go. */
export interface VideoPlan {
  frames: number;
  width: number;
  height: number;
  /** Frames per second, as ffmpeg takes it ("30000/1001", "25"). */
  rate: string;
  /** Whether the input has audio (kept in a video output). */
  audio: boolean;
  /** Where the finished frames are: the output folder, or a hidden folder beside the output video. */
  work: string;
  /** Whether the output is a video (else a folder of frames). */
  encode: boolean;
  /** The first frame (0-based) not yet made: more than 0 when the job goes on from an earlier run. */
  first: number;
}

/** One finished frame. */
export interface FrameResult {
  /** 0-based. */
  index: number;
  file: string;
  result: JobResult;
  /** Seconds the flow and warp took (0 for the first frame and independent frames). */
  flowSeconds: number;
}

export interface VideoHooks {
  onPlan?: (plan: VideoPlan) => void;
  /** A frame's run is about to start (0-based index), from its content frame, writing `file`. */
  onFrameStart?: (index: number, content: string, file: string) => void;
  /** The hooks of each frame's run (its progress, for a bar; its best image, for a live view). */
  frame?: JobHooks;
  /** A frame is written (awaited). */
  onFrame?: (frame: FrameResult) => void | Promise<void>;
}

export interface VideoResult {
  output: string;
  plan: VideoPlan;
  /** Frames finished in all (earlier runs' included). */
  done: number;
  /** Ctrl-C ended it: the frames done so far are written (a shorter video), the work folder kept. */
  interrupted: boolean;
  elapsedMs: number;
}

/** The work folder's record of what its frames were made from, so that a rerun with others starts again. */
const RECORD = '.nst-video.json';
/** Where the frames of the input, at the working size, are kept inside the work folder. */
const INPUT_FRAMES = '.input';
/**
 * Iterations between the checkpoints of the first frame, the long one (every frame's is also
 * written at Ctrl-C): as `nst stylize --checkpoint` does. L-BFGS's pairs make one some 100 MB at
 * 256 px, so not often.
 */
const FRAME_CHECKPOINT_EVERY = 100;
/** A frame's checkpoint file name in the work folder. */
const checkpointName = (index: number) => `.${frameName(index)}.nst-checkpoint`;

/** Whether `output` names a folder: ends with a separator, or is one. */
export function isFolderOutput(output: string): boolean {
  return /[\\/]$/.test(output) || fs.statSync(output, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** The image files of a folder of frames, in name order (numbers compared as numbers). */
function frameFiles(dir: string): string[] {
  const names = fs.readdirSync(dir).filter((name) => {
    const ext = path.extname(name).slice(1).toLowerCase();
    return IMAGE_EXTENSIONS.includes(ext) && fs.statSync(path.join(dir, name)).isFile();
  });
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.map((name) => path.join(dir, name));
}

/** A frame size both even (what video encoders take) and within `size` on its longest side. */
function workingSize(width: number, height: number, size: number): [number, number] {
  const [h, w] = scaledSize(height, width, size);
  return [Math.max(2, w - (w % 2)), Math.max(2, h - (h % 2))];
}

/** The size of each frame of a folder, all alike; an InputError names the first that differs. */
function folderFrameSize(dir: string, files: readonly string[]): [number, number] {
  let first: [number, number, string] | null = null;
  for (const file of files) {
    const bytes = Buffer.alloc(64 * 1024);
    const fd = fs.openSync(file, 'r');
    const read = fs.readSync(fd, bytes, 0, bytes.length, 0);
    fs.closeSync(fd);
    let header;
    try {
      header = readImageHeader(bytes.subarray(0, read));
    } catch (error) {
      throw new InputError(`frame ${file}: not a readable image (${oneLine(error)})`, { file });
    }
    if (!header) throw new InputError(`frame ${file}: not an image`, { file });
    if (!first) first = [header.width, header.height, file];
    else if (header.width !== first[0] || header.height !== first[1]) {
      throw new InputError(
        `the frames in ${dir} differ in size: ${first[2]} is ${first[0]}×${first[1]} px, ${file} is ${header.width}×${header.height} px`,
        { file },
      );
    }
  }
  return [first![0], first![1]];
}

/** The input's frames, size, rate and audio (the tools checked where a video is read or written). */
async function readSource(job: VideoJob, encode: boolean) {
  const isFolder = fs.statSync(job.input, { throwIfNoEntry: false })?.isDirectory() === true;
  if (!isFolder && !fs.existsSync(job.input)) throw new InputError(`input ${job.input}: no such file or folder`);
  if (!isFolder || encode) await checkVideoTools();
  if (isFolder) {
    const files = frameFiles(job.input);
    if (files.length === 0) throw new InputError(`input ${job.input}: holds no image frames`);
    const [width, height] = folderFrameSize(job.input, files);
    return { files, width, height, rate: String(job.video.fps), frames: files.length, audio: false };
  }
  const info = await probeVideo(job.input);
  return {
    files: null,
    width: info.width,
    height: info.height,
    rate: info.rate,
    frames: info.frames,
    audio: info.audio,
  };
}

/** Checks a video job before any work (settings, paths, the input): its plan, or an InputError naming the problem. */
export async function planVideo(job: VideoJob): Promise<PlannedVideo> {
  checkRunFlags(job.flags, job.styles.length);
  const folderOut = isFolderOutput(job.output);
  if (!folderOut && !videoExtension(job.output)) {
    throw new InputError(
      `output ${job.output}: name a video (${VIDEO_EXTENSIONS.join(', ')}) or a folder for PNG frames (ending in /)`,
    );
  }
  const source = await readSource(job, !folderOut);
  const [width, height] = workingSize(source.width, source.height, job.flags.size);
  const settings = checkRunFlags(frameFlags(job, width, height, false), job.styles.length);
  const later = checkRunFlags(frameFlags(job, width, height, true), job.styles.length);
  const work = folderOut
    ? path.resolve(job.output)
    : path.join(path.dirname(path.resolve(job.output)), `.${path.basename(job.output)}.nst-frames`);
  checkPaths(job, source.files, work, folderOut, source.frames);
  if (job.video.flowDir && job.video.temporalWeight > 0) checkFlowDir(job.video.flowDir, source.frames);
  // Read once now: a bad style image is refused before the work folder is made.
  for (const [i, file] of job.styles.entries()) {
    const label = job.styles.length > 1 ? `style image ${i + 1}` : 'style image';
    (await readImage(file, label, { maxInputPixels: job.flags.maxInputPixels })).dispose();
  }
  const plan = {
    frames: source.frames,
    width,
    height,
    rate: source.rate,
    audio: source.audio,
    work,
    encode: !folderOut,
  };
  return { plan: { ...plan, first: 0 }, settings: [settings, later], files: source.files };
}

/** A checked video job: its plan, the settings of its first and later frames, a folder's frame files. */
export interface PlannedVideo {
  plan: VideoPlan;
  settings: [RunSettings, RunSettings];
  files: string[] | null;
}

/** The flow files of every pair of frames, read once before any work: an InputError names the first bad one. */
function checkFlowDir(dir: string, frames: number): void {
  for (let t = 2; t <= frames; t++) for (const name of flowFiles(t)) readFlo(path.join(dir, name));
}

/** The .flo files of the pair of frames t − 1 and t (1-based): backward, forward. */
const flowFiles = (t: number) => [`backward_${t}_${t - 1}.flo`, `forward_${t - 1}_${t}.flo`] as const;

/** No file written may be one read; the output folder may not be the input folder. */
function checkPaths(job: VideoJob, files: string[] | null, work: string, folderOut: boolean, frames: number) {
  const reads: Role[] = [
    ...(files ? files.map((file) => ({ what: 'input frame', file })) : [{ what: 'input video', file: job.input }]),
    ...job.styles.map((file) => ({ what: 'style image', file })),
  ];
  if (folderOut && files && fileIdentity(work) === fileIdentity(job.input)) {
    throw new InputError(`output folder ${job.output} is the input folder`);
  }
  const writes: Role[] = folderOut
    ? Array.from({ length: frames }, (_, i) => ({ what: 'output frame', file: path.join(work, frameName(i)) }))
    : [{ what: 'output video', file: job.output }];
  refuseOverwrites(reads, writes, []);
  const dir = folderOut ? path.dirname(work) : path.dirname(path.resolve(job.output));
  if (!fs.existsSync(dir)) throw new InputError(`output ${job.output}: folder ${dir} does not exist`);
}

/**
 * The flags of a frame: the job's at the working size (its even sides, which `size` rounded to
 * an odd number would not give back); after the first, one scale and the frame budget.
 */
function frameFlags({ flags, video }: VideoJob, width: number, height: number, later: boolean): Settings {
  const size = Math.max(width, height);
  if (!later) return { ...flags, size };
  return { ...flags, size, scales: 1, minScale: undefined, iterations: video.frameIterations };
}

/** What the work folder's record holds: the inputs (by identity and size) and the settings that shape the frames. */
function recordOf(job: VideoJob, { plan, settings, files }: PlannedVideo): string {
  const identity = (file: string) => {
    const stat = fs.statSync(file);
    return [path.resolve(file), stat.size, stat.mtimeMs];
  };
  const { frames, width, height, rate } = plan;
  return JSON.stringify({
    // A folder by its frames: its own time changes when a work folder is made inside it.
    input: files ? files.map(identity) : identity(job.input),
    styles: job.styles.map(identity),
    settings,
    temporalWeight: job.video.temporalWeight,
    flowDir: job.video.flowDir ?? null,
    frames: [frames, width, height, rate],
  });
}

/**
 * Makes the work folder or takes it up again: its record must match this job (else an InputError
 * says to remove it), and the input frames are decoded into it once. Returns the first frame to make.
 */
async function openWork(job: VideoJob, planned: PlannedVideo): Promise<number> {
  const { plan, files } = planned;
  const record = recordOf(job, planned);
  const recordFile = path.join(plan.work, RECORD);
  fs.mkdirSync(plan.work, { recursive: true });
  const made = (dir: string) => fs.existsSync(dir) && fs.readdirSync(dir).filter((n) => /^\d{6}\.png$/.test(n)).length;
  const recorded = fs.existsSync(recordFile) ? fs.readFileSync(recordFile, 'utf8') : null;
  if (recorded !== record && (recorded !== null || made(plan.work))) {
    throw new InputError(
      `${plan.work} holds frames of another run (other inputs or settings, or not made by nst video): remove them to start again`,
    );
  }
  let first = 0;
  while (first < plan.frames && fs.existsSync(path.join(plan.work, frameName(first)))) first++;
  if (first === plan.frames) return first;
  const inputs = path.join(plan.work, INPUT_FRAMES);
  if (made(inputs) !== plan.frames) {
    fs.rmSync(inputs, { recursive: true, force: true });
    fs.mkdirSync(inputs);
    const count = files
      ? await scaleFrames(files, inputs, plan, job.flags.maxInputPixels)
      : await decodeFrames(job.input, inputs, plan.width, plan.height);
    if (count !== plan.frames)
      throw new InputError(`input ${job.input}: decodes to ${count} frames where its stream lists ${plan.frames}`);
  }
  fs.writeFileSync(recordFile, record);
  return first;
}

/** The frames of a folder at the working size, as PNG files 000001.png, … in `dir`. */
async function scaleFrames(files: readonly string[], dir: string, plan: VideoPlan, maxInputPixels: number) {
  for (const [i, file] of files.entries()) {
    const image = await readImage(file, 'input frame', { maxInputPixels }); // 0..255
    const scaled = tf.tidy(
      () => tf.clipByValue(tf.div(resizeBicubic(image, plan.height, plan.width), 255), 0, 1) as tf.Tensor3D,
    );
    image.dispose();
    try {
      await writeImage(path.join(dir, frameName(i)), scaled);
    } finally {
      scaled.dispose();
    }
  }
  return files.length;
}

/** An image file as RGB values in [0, 1] (readImage gives 0..255), row-major. */
async function pixels(file: string): Promise<Float32Array> {
  const image = await readImage(file, 'frame');
  try {
    return ((await image.data()) as Float32Array).map((v) => v / 255);
  } finally {
    image.dispose();
  }
}

/**
 * The flows between frames S = index and T = index + 1 (1-based numbers): backward T → S and
 * forward S → T, computed or read from `flowDir` (resized to the frame where their size differs).
 */
function flowsBetween(
  [previous, current]: [Float32Array, Float32Array],
  index: number,
  plan: VideoPlan,
  flowDir: string | undefined,
): { backward: Flow; forward: Flow } {
  const { width, height } = plan;
  if (flowDir) {
    const read = (name: string) => {
      const flow = readFlo(path.join(flowDir, name));
      return flow.width === width && flow.height === height ? flow : resizeFlow(flow, width, height);
    };
    const [backward, forward] = flowFiles(index + 1);
    return { backward: read(backward), forward: read(forward) };
  }
  const [a, b] = [greyOf(previous, width, height), greyOf(current, width, height)];
  return { backward: opticalFlow(b, a), forward: opticalFlow(a, b) };
}

/** Frame `index`'s start and temporal cost: the previous result warped by the flow, and where to trust it. */
async function frameInputs(index: number, plan: VideoPlan, video: VideoSettings): Promise<FrameInputs> {
  const { work, width, height } = plan;
  const input = (i: number) => path.join(work, INPUT_FRAMES, frameName(i));
  const contents: [Float32Array, Float32Array] = [await pixels(input(index - 1)), await pixels(input(index))];
  const { backward, forward } = flowsBetween(contents, index, plan, video.flowDir);
  const warped = warpImage(await pixels(path.join(work, frameName(index - 1))), backward);
  const target = tf.tensor3d(warped, [height, width, 3]);
  const weights = tf.tensor2d(consistencyWeights(backward, forward), [height, width]);
  // A start image is raw RGB, 0..255, as the images read are.
  const init = tf.tidy(() => tf.mul(target, 255) as tf.Tensor3D);
  return { init, temporal: { weight: video.temporalWeight, target, weights } };
}

/**
 * Runs a video job planned by planVideo: the frames not yet made, in order, then the output video
 * encoded from all of them (or, interrupted, from those done). The work folder of a video output
 * is removed once the whole video is written.
 */
export async function runVideo(
  job: VideoJob,
  planned: PlannedVideo,
  context: JobContext,
  hooks: VideoHooks = {},
): Promise<VideoResult> {
  const start = Date.now();
  const first = await openWork(job, planned);
  const plan = { ...planned.plan, first };
  hooks.onPlan?.(plan);
  const { events } = context;
  const { frames, width, height, rate, work } = plan;
  events.emit('start', {
    input: job.input,
    styles: job.styles,
    output: job.output,
    frames,
    width,
    height,
    rate,
    first,
  });
  let done = first;
  for (let index = first; index < frames && !context.signal.aborted; index++) {
    const made = await runFrame(job, plan, context, hooks, index);
    if (!made) break;
    done++;
    events.emit('frame', { frame: index + 1, frames, path: made.file, ...made.result, flowSeconds: made.flowSeconds });
    await hooks.onFrame?.(made);
  }
  const interrupted = done < frames;
  // The frames are made in order: the work folder holds frames 1 … done.
  if (plan.encode && done > 0) await encodeVideo(work, rate, job.output, plan.audio ? job.input : null, interrupted);
  if (!interrupted) removeWork(plan);
  const result = { output: job.output, plan, done, interrupted, elapsedMs: Date.now() - start };
  events.emit('done', { output: job.output, frames: done, of: frames, interrupted, elapsedMs: result.elapsedMs });
  return result;
}

/**
 * Once every frame is made: the work folder of a video output goes; an output folder keeps its
 * frames and the record (so that a rerun with other settings is refused), not the input frames.
 */
function removeWork({ work, encode }: VideoPlan): void {
  if (encode) fs.rmSync(work, { recursive: true, force: true });
  else {
    // A checkpoint outlives its frame only when the process ended between the two writes.
    const left = fs.readdirSync(work).filter((name) => name.endsWith('.nst-checkpoint'));
    for (const name of [INPUT_FRAMES, ...left]) fs.rmSync(path.join(work, name), { recursive: true, force: true });
  }
}

/** Makes frame `index` (0-based), or returns null when Ctrl-C stopped it (its checkpoint kept). */
async function runFrame(
  job: VideoJob,
  plan: VideoPlan,
  context: JobContext,
  hooks: VideoHooks,
  index: number,
): Promise<FrameResult | null> {
  const { work } = plan;
  const file = path.join(work, frameName(index));
  const later = index > 0;
  const flags = frameFlags(job, plan.width, plan.height, later);
  const settings = checkRunFlags(flags, job.styles.length);
  const checkpointFile = path.join(work, checkpointName(index));
  const resume = fs.existsSync(checkpointFile) ? await loadCheckpoint(checkpointFile) : undefined;
  const flowStart = Date.now();
  const temporal = later && job.video.temporalWeight > 0;
  const inputs = temporal ? await frameInputs(index, plan, job.video) : null;
  const flowSeconds = (Date.now() - flowStart) / 1000;
  const content = path.join(work, INPUT_FRAMES, frameName(index));
  hooks.onFrameStart?.(index, content, file);
  try {
    const frameJob = { content, styles: job.styles, output: file };
    // A later frame is short: its checkpoint is written at Ctrl-C only.
    const checkpoint = { file: checkpointFile, every: later ? undefined : FRAME_CHECKPOINT_EVERY, resume };
    const result = await runJob(
      { ...frameJob, flags, frame: index + 1 },
      settings,
      { ...context, writeInterrupted: false },
      hooks.frame,
      checkpoint,
      inputs,
    );
    if (result.interrupted) return null;
    fs.rmSync(checkpointFile, { force: true });
    return { index, file, result, flowSeconds };
  } finally {
    if (inputs) tf.dispose([inputs.init, inputs.temporal.target, inputs.temporal.weights]);
    if (resume) disposeCheckpoint(resume);
  }
}
