/**
 * One job, from files to files (of `nst stylize`, `nst batch` and a queue worker): a content image,
 * its style images, where the result goes. Read the inputs, guard the memory, run, write:
 * snapshots, checkpoints and the output atomically, with the JSON events of each step.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveCheckpoint } from '../core/checkpoint.js';
import { checkMemory, memoryBudget, scaleWork, type RunPlan } from '../core/memory.js';
import { styleSide } from '../core/resize.js';
import type { RunSettings, Settings } from '../core/settings.js';
import {
  checkStylizeOptions,
  stylize,
  type Checkpoint,
  type StylizeOptions,
  type StylizeProgress,
  type TileProgress,
  type StylizeSummary,
  type TemporalTerm,
} from '../core/stylize.js';
import type { Engine } from '../engine/evaluator.js';
import { modelOutputs } from '../engine/vgg19.js';
import { InputError, settingError } from '../errors.js';
import { checkOutputPath, checkWritable, readImage, readImagePipe, writeImage } from '../io/images.js';
import { fileIdentity } from '../io/files.js';
import { NonFiniteCostError, type StopReason } from '../optim/types.js';
import { isReported, type Events } from './events.js';
import { refuseOverwrites, type Role, type Snapshots } from './overwrite.js';

export interface Job {
  content: string;
  styles: string[];
  output: string;
  flags: Settings;
  /** 1-based number within a batch (in its events); absent for `nst stylize`. */
  index?: number;
  /** 1-based frame number within a video (in its events, as `frame`). */
  frame?: number;
}

/** What a job's events say it is: a batch's job, a video's frame, or nothing for `nst stylize`. */
const jobFields = (job: Job) => ({
  ...(job.index === undefined ? {} : { job: job.index }),
  ...(job.frame === undefined ? {} : { frame: job.frame }),
});

/**
 * A video frame's start and temporal cost (jobs/video.ts): the previous stylised frame warped
 * onto this one starts the run, and the temporal cost pulls towards it where the flow is trusted.
 */
export interface FrameInputs {
  init: tf.Tensor3D;
  temporal: TemporalTerm;
}

/** What the jobs of one process share: the engine (with its models and style targets), the signal, the events. */
export interface JobContext {
  engine: Engine;
  /** Ctrl-C: ends the run between iterations with the best image so far. */
  signal: AbortSignal;
  events: Events;
  memoryCheck: boolean;
  /**
   * Whether an interrupted run writes its best image so far as the output (the command's Ctrl-C,
   * default), or leaves the output unwritten and its state in the checkpoint only (a queue's job,
   * which another worker finishes).
   */
  writeInterrupted?: boolean;
}

/** What the caller of one job hears of it. */
export interface JobHooks {
  /**
   * The job's inputs are read and checked, the run is about to start: the time for messages.
   * `scaleWork`: each scale's work per evaluation, tiles counted (core/memory.ts scaleWork), for an ETA.
   */
  onStart?: (scaleWork: number[]) => void;
  onProgress?: (event: StylizeProgress) => void;
  onTile?: (event: TileProgress) => void;
  /** The best image so far, every few seconds (see StylizeOptions.onPreview). */
  onPreview?: (image: tf.Tensor3D) => Promise<void>;
}

/** Where a job's run state is saved, or which saved state it continues (read from `resumeFile`). */
export interface JobCheckpoint {
  file?: string;
  /** Iterations between checkpoints (counted over all scales); one is also written when the run is interrupted. */
  every?: number;
  resume?: Checkpoint;
  resumeFile?: string;
}

export interface JobResult {
  output: string;
  width: number;
  height: number;
  bestCost: number;
  iterations: number;
  evaluations: number;
  elapsedMs: number;
  /** Why the run ended (see StopReason); 'interrupted': the output holds the best image so far (unless JobContext.writeInterrupted is false). */
  reason: StopReason;
  /** The signal stopped the run early (see `reason`). */
  interrupted: boolean;
}

/** `out.png` → `out_000100.png`: the name of the snapshot taken at `iteration`. */
export function snapshotPath(output: string, iteration: number): string {
  const ext = path.extname(output);
  const name = `${path.basename(output, ext)}_${String(iteration).padStart(6, '0')}${ext}`;
  return path.join(path.dirname(output), name);
}

/** The library's options of a job's run (images, callbacks and the engine come separately). */
function runOptions(flags: Settings): StylizeOptions {
  const { reportEvery, maxInputPixels, init, styleMasks, mask, ...run } = flags;
  return run;
}

const isInitKeyword = (init: string): init is 'content' | 'noise' | 'style' =>
  init === 'content' || init === 'noise' || init === 'style';

/** Checks run flags for `styleCount` style images (and a checkpoint to resume): an InputError names the first problem. */
export function checkRunFlags(flags: Settings, styleCount: number, resume?: Checkpoint): RunSettings {
  // An init file is recorded as 'image', as the library records an image given as `init`.
  const init = isInitKeyword(flags.init) ? flags.init : 'image';
  // The files are read later: as the library records images given as masks.
  const masks = { styleMasks: flags.styleMasks?.map(() => 'image'), mask: flags.mask && 'image' };
  const settings = checkStylizeOptions({ ...runOptions(flags), init, ...masks, resume }, styleCount);
  const every = flags.reportEvery;
  if (every !== undefined && every >= Math.max(...settings.iterations)) {
    throw settingError('reportEvery', 'must be positive and less than iterations');
  }
  checkWorkingSize(flags);
  return settings;
}

/**
 * Checks a job's settings and paths before any work: an InputError names the first problem. No
 * file it writes may be one it reads (its images, the checkpoint it resumes, and `reads`, such as
 * the weights), nor another that it writes.
 */
export function checkJob(job: Job, checkpoint: JobCheckpoint = {}, reads: readonly Role[] = []): RunSettings {
  const settings = checkRunFlags(job.flags, job.styles.length, checkpoint.resume);
  checkOutputPath(job.output);
  if (checkpoint.file) checkWritable(checkpoint.file, 'checkpoint');
  const files = jobFiles(job, settings, checkpoint);
  refuseOverwrites([...files.reads, ...reads], files.writes, files.snapshots);
  return settings;
}

/** The files a job reads and writes, and its snapshots. */
export function jobFiles(
  job: Job,
  settings: RunSettings,
  checkpoint: JobCheckpoint = {},
): { reads: Role[]; writes: Role[]; snapshots: Snapshots[] } {
  const reads = jobImages(job);
  const writes: Role[] = [{ what: 'output image', file: job.output }];
  if (checkpoint.file) writes.push({ what: 'checkpoint', file: checkpoint.file });
  // The checkpoint resumed may be the one written: it is read whole before the run.
  const { resumeFile, file } = checkpoint;
  if (resumeFile && !(file && fileIdentity(file) === fileIdentity(resumeFile)))
    reads.push({ what: 'checkpoint resumed', file: resumeFile });
  const every = job.flags.snapshotEvery;
  const total = settings.iterations.reduce((a, b) => a + b, 0);
  return { reads, writes, snapshots: every ? [{ output: job.output, every, total }] : [] };
}

/**
 * Reads the job's inputs that are pipes (`-`, FIFOs, process substitutions) whole, before any
 * check: a pipe can be read only once, and its bytes serve every later read.
 */
export async function readJobPipes(job: Job): Promise<void> {
  for (const { what, file } of jobImages(job)) await readImagePipe(file, what, job.flags.maxInputPixels);
}

/** The image files a job reads: its content and styles, an init image, its masks. */
function jobImages(job: Job): Role[] {
  const images: Role[] = [
    { what: 'content image', file: job.content },
    ...job.styles.map((file, i) => ({ what: styleLabel(job, i), file })),
  ];
  if (!isInitKeyword(job.flags.init)) images.push({ what: 'init image', file: job.flags.init });
  job.flags.styleMasks?.forEach((file, i) => images.push({ what: styleMaskLabel(job, i), file }));
  if (job.flags.mask) images.push({ what: 'mask', file: job.flags.mask });
  return images;
}

/** The job with each of its image files (those of jobImages) and its output renamed by `rename`. */
export function withPaths(job: Job, rename: (file: string) => string): Job {
  const { init, styleMasks, mask } = job.flags;
  const flags = {
    ...job.flags,
    init: isInitKeyword(init) ? init : rename(init),
    styleMasks: styleMasks?.map(rename),
    mask: mask && rename(mask),
  };
  return { ...job, content: rename(job.content), styles: job.styles.map(rename), output: rename(job.output), flags };
}

/**
 * The working images are at most `size` px on each side, the style images styleScale × size:
 * their area must be within maxInputPixels too, so that a mistyped size is refused at once
 * rather than filling the memory.
 */
function checkWorkingSize(flags: Settings): void {
  const side = styleSide(flags.size, flags.styleScale);
  const sides: [string, number, string[]][] = [
    [`size ${flags.size}: working images`, flags.size, ['size']],
    [`styleScale ${flags.styleScale} × size ${flags.size}: style images`, side, ['styleScale', 'size']],
  ];
  for (const [what, side, names] of sides) {
    if (side * side > flags.maxInputPixels) {
      const limit = flags.maxInputPixels.toLocaleString('en-US');
      throw new InputError(`${what} of up to ${side}×${side} px are more than the limit of ${limit} pixels`, {
        setting: 'maxInputPixels',
        names,
      });
    }
  }
}

/** The images of a job, read and checked against the pixel limit. */
interface Inputs {
  content: tf.Tensor3D;
  styles: tf.Tensor3D[];
  init: 'content' | 'noise' | 'style' | tf.Tensor3D;
  styleMasks?: tf.Tensor3D[];
  mask?: tf.Tensor3D;
  /** Every tensor above, to release. */
  all: tf.Tensor3D[];
}

const styleLabel = (job: Job, i: number) => (job.styles.length > 1 ? `style image ${i + 1}` : 'style image');
const styleMaskLabel = (job: Job, i: number) => (job.styles.length > 1 ? `style mask ${i + 1}` : 'style mask');

/**
 * The images of a job, each shrunk as it is read to the largest size the run works at: the content
 * and an init image to `size`, the styles to `styleScale` × `size`. A photo of tens of megapixels
 * never becomes a tensor, and the last scale sees exactly what it would from the full image.
 */
async function readInputs(job: Job, settings: RunSettings): Promise<Inputs> {
  const all: tf.Tensor3D[] = [];
  const read = async (file: string, label: string, maxSide: number) => {
    const image = await readImage(file, label, { maxInputPixels: job.flags.maxInputPixels, maxSide });
    all.push(image);
    return image;
  };
  const { size } = settings;
  const side = styleSide(size, settings.styleScale);
  try {
    const content = await read(job.content, 'content image', size);
    const styles: tf.Tensor3D[] = [];
    for (const [i, file] of job.styles.entries()) styles.push(await read(file, styleLabel(job, i), side));
    const { init, styleMasks, mask } = job.flags;
    const masks: Pick<Inputs, 'styleMasks' | 'mask'> = {};
    if (styleMasks) {
      masks.styleMasks = [];
      for (const [i, file] of styleMasks.entries())
        masks.styleMasks.push(await read(file, styleMaskLabel(job, i), size));
    }
    if (mask) masks.mask = await read(mask, 'mask', size);
    return { content, styles, init: isInitKeyword(init) ? init : await read(init, 'init image', size), ...masks, all };
  } catch (error) {
    tf.dispose(all);
    throw error;
  }
}

/** What the memory guard and the ETA know of a job's run: its settings and the images as read. */
function planOf(settings: RunSettings, inputs: Inputs): RunPlan {
  return {
    size: settings.size,
    contentShape: inputs.content.shape,
    styleShapes: inputs.styles.map((s) => s.shape),
    styleScale: settings.styleScale,
    deepestLayer: modelOutputs(settings.styleLayers, settings.contentLayers).at(-1),
    optimizer: settings.optimizer,
    history: settings.history,
    tileSize: settings.tileSize ?? undefined,
  };
}

/** The run of a job: its best image (the caller's), cost and evaluations, or the failure that stopped it after writing that image. */
async function run(
  job: Job,
  context: JobContext,
  hooks: JobHooks,
  inputs: Inputs,
  checkpoint: JobCheckpoint,
  frame: FrameInputs | null,
): Promise<
  { image: tf.Tensor3D; bestCost: number } & (
    { summary: StylizeSummary; failure: null } | { summary: null; failure: NonFiniteCostError }
  )
> {
  const { events } = context;
  const jobField = jobFields(job);
  const every = job.flags.reportEvery ?? 10;
  let evaluations = 0;
  try {
    const [image, bestCost, summary] = await stylize(inputs.styles, inputs.content, {
      ...runOptions(job.flags),
      engine: context.engine,
      init: frame?.init ?? inputs.init,
      ...(frame ? { temporal: frame.temporal } : {}),
      styleMasks: inputs.styleMasks,
      mask: inputs.mask,
      signal: context.signal,
      imageNames: {
        content: `content image ${job.content}`,
        styles: job.styles.map((file, i) => `${styleLabel(job, i)} ${file}`),
      },
      resume: checkpoint.resume,
      checkpointEvery: checkpoint.file ? checkpoint.every : undefined,
      onCheckpoint: checkpoint.file
        ? async (state) => {
            await saveCheckpoint(checkpoint.file!, state);
            const fields = { iteration: state.state.iteration, scale: state.scale + 1, path: checkpoint.file };
            events.emit('checkpoint', { ...jobField, ...fields });
          }
        : undefined,
      onPreview: hooks.onPreview,
      onTile: (e) => {
        // A tiled evaluation can take minutes: each tile says how far it has got.
        events.emit('tile', { ...jobField, scale: e.scale, done: e.done, total: e.total });
        hooks.onTile?.(e);
      },
      onSnapshot: async (snapshot, iteration) => {
        const file = snapshotPath(job.output, iteration);
        await writeImage(file, snapshot);
        events.emit('snapshot', { ...jobField, iteration, path: file });
      },
      onProgress: (e) => {
        evaluations = e.run.evaluations;
        if (isReported(e, every)) {
          const { iteration, iterations, scale, costs, bestCost: best, elapsedMs } = e;
          events.emit('progress', {
            ...jobField,
            iteration,
            iterations,
            scale,
            costs,
            bestCost: best,
            evaluations,
            elapsedMs,
          });
        }
        hooks.onProgress?.(e);
      },
    });
    return { image, bestCost, summary, failure: null };
  } catch (error) {
    if (!(error instanceof NonFiniteCostError)) throw error;
    // Before any step, only the settings can be at fault: weights so large that the cost overflows.
    if (!error.bestImage) {
      throw new InputError(
        `${error.message}, before any step: lower alpha, beta or var (the cost must fit in float32)`,
        { names: ['alpha', 'beta', 'var'] },
      );
    }
    const image = tf.squeeze(error.bestImage, [0]) as tf.Tensor3D;
    error.bestImage.dispose();
    return { image, bestCost: error.bestCost, summary: null, failure: error };
  }
}

/**
 * Runs one job with its settings as checkJob resolved them: reads its images, checks the memory
 * it needs, optimises (on the shared engine), writes snapshots, checkpoints and the output
 * atomically, and reports events. A non-finite cost still writes the best image before the
 * NonFiniteCostError is rethrown.
 */
export async function runJob(
  job: Job,
  settings: RunSettings,
  context: JobContext,
  hooks: JobHooks = {},
  checkpoint: JobCheckpoint = {},
  frame: FrameInputs | null = null,
): Promise<JobResult> {
  const inputs = await readInputs(job, settings);
  try {
    const plan = planOf(settings, inputs);
    const budget = memoryBudget(context.engine.memory, job.flags.maxMemory);
    if (context.memoryCheck) checkMemory(plan, context.engine.memory, budget); // the caller may skip the guard
    hooks.onStart?.(scaleWork(plan, settings.scales, context.engine.memory, budget));
    const jobField = jobFields(job);
    const { content, styles, output } = job;
    const backend = context.engine.info.name;
    const preset = job.flags.preset ?? null;
    context.events.emit('start', { ...jobField, content, styles, output, backend, preset, settings });
    const start = Date.now();
    const outcome = await run(job, context, hooks, inputs, checkpoint, frame);
    const { image, bestCost } = outcome;
    const [height, width] = image.shape;
    const unfinished = outcome.summary?.reason === 'interrupted' && context.writeInterrupted === false;
    try {
      if (!unfinished) await writeImage(job.output, image);
    } finally {
      image.dispose();
    }
    if (outcome.failure) throw outcome.failure;
    const { summary } = outcome;
    const elapsedMs = Date.now() - start;
    const result: JobResult = {
      output,
      width,
      height,
      bestCost,
      iterations: summary.iterations,
      evaluations: summary.evaluations,
      elapsedMs,
      reason: summary.reason,
      interrupted: summary.reason === 'interrupted',
    };
    context.events.emit('done', { ...jobField, ...result });
    return result;
  } finally {
    tf.dispose(inputs.all);
  }
}
