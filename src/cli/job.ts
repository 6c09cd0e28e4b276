import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../engine/tfjs/backend.js';
import { saveCheckpoint } from '../core/checkpoint.js';
import { checkStylizeOptions, stylize, type Checkpoint, type RunSettings } from '../core/stylize.js';
import { InputError } from '../errors.js';
import type { Events } from './events.js';
import type { FeatureModel } from '../engine/tfjs/features.js';
import { runOptions, type RunFlags } from './flags.js';
import { checkMemory } from '../engine/memory.js';
import { modelOutputs, NST, type StyleCache } from '../nst.js';
import { NonFiniteCostError, type ProgressEvent } from '../optim/optimizer.js';
import { checkOutputPath, checkWritable, readImage, writeImage } from '../io/images.js';

/** One run of the command: a content image, its style images, where the result goes, and how. */
export interface Job {
  content: string;
  styles: string[];
  output: string;
  flags: RunFlags;
  /** 1-based number within a batch (in its events); absent for `nst stylize`. */
  index?: number;
}

/** What the jobs of one process share: the backend, the weights, the loaded models and style targets. */
export interface JobContext {
  backend: BackendInfo;
  weights: string;
  /** Loaded models by their outputs and pooling: a batch loads each once. */
  models: Map<string, FeatureModel>;
  /** Gram matrices of the style images seen so far (see NSTOptions.styleCache). */
  styleCache: StyleCache;
  /** Ctrl-C: ends the run between iterations with the best image so far. */
  signal: AbortSignal;
  events: Events;
  memoryCheck: boolean;
  /** Where `--step` cost lines go (not printed when absent). */
  log?: (line: string) => void;
  onProgress?: (event: ProgressEvent) => void;
  /** Called once the job's inputs are read and checked, before the model loads: the time for messages. */
  onStart?: () => void;
}

export interface JobResult {
  output: string;
  width: number;
  height: number;
  bestCost: number;
  evaluations: number;
  elapsedMs: number;
  /** The signal stopped the run early: the output holds the best image so far. */
  interrupted: boolean;
}

/** Checkpoints are written this often when --save-every is not given. */
export const DEFAULT_CHECKPOINT_EVERY = 100;

/** `out.png` → `out_000100.png`: the name of the snapshot taken at `iteration`. */
export function snapshotPath(output: string, iteration: number): string {
  const ext = path.extname(output);
  return path.join(path.dirname(output), `${path.basename(output, ext)}_${String(iteration).padStart(6, '0')}${ext}`);
}

/** Library argument errors (RangeError, TypeError) are usage errors of the command. */
export function usageError(error: unknown): unknown {
  return error instanceof RangeError || error instanceof TypeError ? new InputError(error.message) : error;
}

/** Checks a job's settings and paths before any work: an InputError names the first problem. */
export function checkJob(job: Job, checkpoint?: { file?: string; resume?: Checkpoint }): RunSettings {
  const options = { ...runOptions(job.flags), resume: checkpoint?.resume };
  let settings: RunSettings;
  try {
    settings = checkStylizeOptions(options, job.styles.length);
  } catch (error) {
    throw usageError(error);
  }
  checkWorkingSize(job.flags);
  checkOutputPath(job.output);
  if (checkpoint?.file) checkWritable(checkpoint.file, 'checkpoint');
  return settings;
}

/**
 * The working images are at most --size px on each side, the style images --style-scale × --size:
 * their area must be within --max-input-pixels too, so that a mistyped size is refused at once
 * rather than filling the memory.
 */
function checkWorkingSize(flags: RunFlags): void {
  const styleSide = Math.round(flags.styleScale * flags.size);
  const sides: [string, number][] = [
    [`--size ${flags.size}: working images`, flags.size],
    [`--style-scale ${flags.styleScale} × --size ${flags.size}: style images`, styleSide],
  ];
  for (const [what, side] of sides) {
    if (side * side > flags.maxInputPixels) {
      const limit = flags.maxInputPixels.toLocaleString('en-US');
      throw new InputError(
        `${what} of up to ${side}×${side} px are more than the limit of ${limit} pixels (raise it with --max-input-pixels)`,
      );
    }
  }
}

/**
 * Runs one job: reads its images, checks the memory it needs, optimises (with the shared model and
 * style targets), writes snapshots, checkpoints and the output atomically, and reports events.
 * A non-finite cost still writes the best image before the NonFiniteCostError is rethrown.
 */
export async function runJob(
  job: Job,
  context: JobContext,
  checkpoint: { file?: string; resume?: Checkpoint } = {},
): Promise<JobResult> {
  const { flags } = job;
  const { events, signal } = context;
  const settings = checkJob(job, checkpoint);
  const read = (file: string, label: string) => readImage(file, label, { maxInputPixels: flags.maxInputPixels });
  const images: tf.Tensor3D[] = [];
  try {
    const content = await read(job.content, 'content image');
    images.push(content);
    const styleLabel = (i: number) => (job.styles.length > 1 ? `style image ${i + 1}` : 'style image');
    const styles: tf.Tensor3D[] = [];
    for (const [i, file] of job.styles.entries()) styles.push(await read(file, styleLabel(i)));
    images.push(...styles);
    const keyword = ['content', 'noise', 'style'].includes(flags.init);
    const init = keyword ? (flags.init as 'content' | 'noise' | 'style') : await read(flags.init, 'init image');
    if (typeof init !== 'string') images.push(init);
    if (context.memoryCheck) {
      checkMemory({
        size: settings.size,
        contentShape: content.shape,
        styleShapes: styles.map((s) => s.shape),
        styleScale: settings.styleScale,
        deepestLayer: modelOutputs(settings.styleLayers, settings.contentLayers).at(-1),
        optimizer: settings.optimizer === 'lbfgs' ? 'lbfgs' : 'adam',
        history: settings.history,
        backend: context.backend.name,
        threads: context.backend.threads,
      });
    }
    context.onStart?.();
    const model = await sharedModel(context, settings);

    const jobField = job.index === undefined ? {} : { job: job.index };
    events.emit('start', {
      ...jobField,
      content: job.content,
      styles: job.styles,
      output: job.output,
      backend: context.backend.name,
      settings,
    });
    const every = flags.step ?? 10;
    let evaluations = 0;
    const evaluationsPerScale = settings.scales.map(() => 0);
    const start = Date.now();
    let image: tf.Tensor3D;
    let bestCost: number;
    let failure: NonFiniteCostError | null = null;
    try {
      [image, bestCost] = await stylize(styles, content, {
        ...runOptions(flags),
        model,
        styleCache: context.styleCache,
        init,
        signal,
        imageNames: {
          content: `content image ${job.content}`,
          styles: job.styles.map((file, i) => `${styleLabel(i)} ${file}`),
        },
        resume: checkpoint.resume,
        checkpointEvery: checkpoint.file ? (flags.saveEvery ?? DEFAULT_CHECKPOINT_EVERY) : undefined,
        onCheckpoint: checkpoint.file
          ? async (state) => {
              await saveCheckpoint(checkpoint.file!, state);
              events.emit('checkpoint', {
                ...jobField,
                iteration: state.state.iteration,
                scale: state.scale + 1,
                path: checkpoint.file,
              });
            }
          : undefined,
        onSnapshot: async (snapshot, iteration) => {
          const file = snapshotPath(job.output, iteration);
          await writeImage(file, snapshot);
          events.emit('snapshot', { ...jobField, iteration, path: file });
        },
        log: context.log ?? (() => {}),
        onProgress: (e) => {
          evaluationsPerScale[(e.scale?.index ?? 1) - 1] = e.evaluations;
          evaluations = evaluationsPerScale.reduce((a, b) => a + b, 0);
          if (e.iteration % every === 0 || e.iteration === e.iterations) {
            events.emit('progress', {
              ...jobField,
              iteration: e.iteration,
              iterations: e.iterations,
              scale: e.scale ?? null,
              costs: e.costs,
              bestCost: e.bestCost,
              evaluations,
              elapsedMs: e.elapsedMs,
            });
          }
          context.onProgress?.(e);
        },
      });
    } catch (error) {
      if (!(error instanceof NonFiniteCostError)) throw usageError(error);
      // Before any step, only the settings can be at fault: weights so large that the cost overflows.
      if (!error.bestImage)
        throw new InputError(
          `${error.message}, before any step: lower --alpha, --beta or --var (the cost must fit in float32)`,
        );
      failure = error;
      image = tf.squeeze(error.bestImage, [0]) as tf.Tensor3D;
      bestCost = error.bestCost;
      error.bestImage.dispose();
    }
    try {
      await writeImage(job.output, image);
    } finally {
      image.dispose();
    }
    if (failure) throw failure;
    const result: JobResult = {
      output: job.output,
      width: image.shape[1],
      height: image.shape[0],
      bestCost,
      evaluations,
      elapsedMs: Date.now() - start,
      interrupted: signal.aborted,
    };
    events.emit('done', { ...jobField, ...result });
    return result;
  } finally {
    tf.dispose(images);
  }
}

/** The model for these settings, loaded once per process. */
async function sharedModel(context: JobContext, settings: RunSettings): Promise<FeatureModel> {
  const key = `${modelOutputs(settings.styleLayers, settings.contentLayers).join(',')} ${settings.pooling}`;
  let model = context.models.get(key);
  if (!model) {
    model = await NST.loadFeatureModel(context.weights, {
      styleLayers: settings.styleLayers,
      contentLayers: settings.contentLayers,
      pooling: settings.pooling === 'max' ? 'max' : 'avg',
    });
    context.models.set(key, model);
  }
  return model;
}
