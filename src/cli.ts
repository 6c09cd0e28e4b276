import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { BACKEND_NAMES, defaultThreads, describeBackend, selectBackend, type BackendInfo, type BackendName } from './backend.js';
import { disposeCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { PRESERVE_COLORS, type PreserveColors } from './color.js';
import { InputError } from './errors.js';
import { checkStylizeOptions, stylize, type Checkpoint, type RunSettings, type StylizeOptions } from './coarse.js';
import type { Pooling } from './features.js';
import { OPTIMIZER_NAMES, type OptimizerName } from './nst.js';
import { NonFiniteCostError, type ProgressEvent } from './optimizer.js';
import { checkOutputPath, checkWritable, readImage, writeImage, DEFAULT_MAX_INPUT_PIXELS, IMAGE_EXTENSIONS } from './preprocess.js';
import { ensureWeights, weightsCommand } from './weights.js';

/** Number parsers for flags: a bad value is a usage error naming the flag's rule. */
function number(rule: string, ok: (x: number) => boolean) {
  return (text: string): number => {
    const x = Number(text);
    if (text.trim() === '' || Number.isNaN(x) || !ok(x)) throw new InvalidArgumentError(rule);
    return x;
  };
}
const nonNegative = (name: string) => number(`${name} must be a non-negative number`, (x) => Number.isFinite(x) && x >= 0);
const positive = (name: string) => number(`${name} must be positive`, (x) => Number.isFinite(x) && x > 0);
const positiveInt = (name: string) => number(`${name} must be a positive integer`, (x) => Number.isInteger(x) && x > 0);
/** Adam's decay rates: at 1 its bias correction divides by zero (beta1) or its steps are 0 (beta2). */
const decay = (name: string) => number(`${name} must be in the range [0, 1)`, (x) => x >= 0 && x < 1);
const integer = (name: string) => number(`${name} must be an integer`, (x) => Number.isInteger(x));
/** Each thread of the wasm backend is a worker with its own memory: a mistyped count must not start them all. */
const MAX_THREADS = 64;
const threadCount = number(`threads must be a positive integer, at most ${MAX_THREADS}`, (x) => Number.isInteger(x) && x > 0 && x <= MAX_THREADS);
/** A positive integer, or a comma-separated list of them ("300,200,100"). */
const positiveIntOrList = (rule: string) => (text: string): number | number[] => {
  const parts = text.split(',').map((part) => Number(part.trim()));
  if (text.trim() === '' || !parts.every((x) => Number.isInteger(x) && x > 0)) throw new InvalidArgumentError(rule);
  return parts.length === 1 && !text.includes(',') ? parts[0]! : parts;
};
/** A comma-separated list of non-negative numbers ("0.7,0.3"). */
const weightList = (name: string) => (text: string): number[] => {
  const parts = text.split(',').map((part) => Number(part.trim()));
  if (text.trim() === '' || !parts.every((x) => Number.isFinite(x) && x >= 0)) throw new InvalidArgumentError(`${name} must be a comma-separated list of non-negative numbers`);
  return parts;
};
/** A comma-separated list of names ("block1_conv1,block2_conv1"). */
const nameList = (text: string): string[] => text.split(',').map((part) => part.trim());

/** `out.png` → `out_000100.png`: the name of the snapshot taken at `iteration`. */
export function snapshotPath(output: string, iteration: number): string {
  const ext = path.extname(output);
  return path.join(path.dirname(output), `${path.basename(output, ext)}_${String(iteration).padStart(6, '0')}${ext}`);
}

/** Checkpoints are written this often when --save-every is not given. */
const DEFAULT_CHECKPOINT_EVERY = 100;

interface StylizeFlags {
  output: string;
  size: number;
  alpha: number;
  beta: number;
  var: number;
  iterations: number | number[];
  scales: number | number[];
  step?: number;
  optimizer: OptimizerName;
  lr: number;
  beta1: number;
  beta2: number;
  lbfgsHistory: number;
  tolerance: number;
  init: string;
  seed?: number;
  backend: BackendName;
  threads: number;
  maxInputPixels: number;
  weights?: string;
  quiet?: boolean;
  styleWeights?: number[];
  styleScale: number;
  styleLayers?: string[];
  contentLayers?: string[];
  styleLayerWeights?: number[];
  pooling: Pooling;
  preserveColors: PreserveColors;
  saveEvery?: number;
  checkpoint?: string;
  resume?: string;
}

/** Each result-shaping setting of a checkpoint and the flag (key of StylizeFlags) it comes from. */
const SETTING_FLAGS: Record<keyof RunSettings, keyof StylizeFlags> = {
  alpha: 'alpha',
  beta: 'beta',
  var: 'var',
  size: 'size',
  scales: 'scales',
  iterations: 'iterations',
  optimizer: 'optimizer',
  lr: 'lr',
  beta1: 'beta1',
  beta2: 'beta2',
  history: 'lbfgsHistory',
  tolerance: 'tolerance',
  init: 'init',
  seed: 'seed',
  preserveColors: 'preserveColors',
  styleWeights: 'styleWeights',
  styleScale: 'styleScale',
  styleLayers: 'styleLayers',
  contentLayers: 'contentLayers',
  styleLayerWeights: 'styleLayerWeights',
  pooling: 'pooling',
};

/**
 * The flags of a resumed run: every setting not given on the command line comes from the
 * checkpoint (given ones are kept; the library refuses a resume whose settings differ).
 */
function flagsFromCheckpoint(flags: StylizeFlags, checkpoint: Checkpoint, given: (flag: string) => boolean): StylizeFlags {
  const merged: Record<string, unknown> = { ...flags };
  for (const [setting, flag] of Object.entries(SETTING_FLAGS) as [keyof RunSettings, keyof StylizeFlags][]) {
    if (given(flag)) continue;
    const value = checkpoint.settings[setting];
    if (setting === 'init' && value === 'image') throw new InputError('the checkpoint\'s run started from an image file: give the same --init FILE');
    merged[flag] = value ?? undefined;
  }
  return merged as unknown as StylizeFlags;
}

const EXAMPLES = `
Examples:
  $ nst stylize photo.jpg painting.jpg -o out.png
  $ nst stylize photo.jpg painting.jpg -o out.jpg --size 256 --iterations 300 --step 50
  $ nst weights fetch            # download the VGG19 weights once, into the cache
  $ nst weights verify vgg19.h5  # check a weights file`;

const STYLIZE_EXAMPLES = `
Examples:
  $ nst stylize tubingen.jpg starry_night.jpg -o out.png
  $ nst stylize tubingen.jpg starry_night.jpg -o small.png --size 128 --iterations 50
  $ nst stylize photo.jpg style.jpg -o out.jpg --alpha 1e3 --step 100 --quiet
  $ nst stylize photo.jpg style.jpg -o out.png --optimizer lbfgs --scales 3 --iterations 500
  $ nst stylize photo.jpg style.jpg -o out.png --init noise --seed 42
  $ nst stylize photo.jpg style.jpg -o out.png --preserve-colors luminance
  $ nst stylize photo.jpg a.jpg b.jpg -o out.png --style-weights 0.7,0.3 --style-scale 1.5
  $ nst stylize photo.jpg style.jpg -o out.png --save-every 100 --checkpoint run.ckpt
  $ nst stylize photo.jpg style.jpg -o out.png --resume run.ckpt

The output format follows the extension: ${IMAGE_EXTENSIONS.join(', ')}.
Ctrl-C stops between iterations and still writes the best image so far.`;

/** A progress bar on stderr when it is a terminal; the seed's --step lines still go to stdout. */
function progressReporter(flags: StylizeFlags, counts: number[]): { update: (e: ProgressEvent) => void; stop: () => void } {
  if (flags.quiet || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const scaled = counts.length > 1;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ` {bar} {value}/{total}${scaled ? ' | scale {scale}' : ''} | cost {cost} | best {best} | evals {evals} | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(
    counts.reduce((a, b) => a + b, 0),
    0,
    { cost: '-', best: '-', evals: 0, scale: '-' },
  );
  // Iterations of the earlier scales, so the bar runs once over the whole run.
  const offsets = counts.map((_, k) => counts.slice(0, k).reduce((a, b) => a + b, 0));
  return {
    update: (e) => {
      const k = (e.scale?.index ?? 1) - 1;
      bar.update(offsets[k]! + e.iteration, {
        cost: e.costs.total.toExponential(4),
        best: e.bestCost.toExponential(4),
        evals: e.evaluations,
        scale: e.scale ? `${e.scale.index}/${e.scale.count} (${e.scale.size} px)` : '-',
      });
    },
    stop: () => bar.stop(),
  };
}

/** Library argument errors (RangeError, TypeError) as usage errors of the command. */
function usageError(error: unknown): unknown {
  return error instanceof RangeError || error instanceof TypeError ? new InputError(error.message) : error;
}
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw usageError(error);
  }
}
async function asUsageAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw usageError(error);
  }
}

async function stylizeCommand(contentPath: string, stylePaths: string[], cliFlags: StylizeFlags, given: (flag: string) => boolean): Promise<number> {
  const say = (line: string) => {
    if (!cliFlags.quiet) process.stderr.write(`${line}\n`);
  };
  // The backend first: a checkpoint's tensors are made on it.
  const backend = await selectBackend(cliFlags.backend, cliFlags.threads);
  const resume = cliFlags.resume ? await loadCheckpoint(cliFlags.resume) : undefined;
  try {
    const flags = resume ? flagsFromCheckpoint(cliFlags, resume, given) : cliFlags;
    return await runStylize(contentPath, stylePaths, flags, { backend, resume, resumePath: cliFlags.resume }, say);
  } finally {
    if (resume) disposeCheckpoint(resume);
  }
}

async function runStylize(
  contentPath: string,
  stylePaths: string[],
  flags: StylizeFlags,
  { backend, resume, resumePath }: { backend: BackendInfo; resume?: Checkpoint; resumePath?: string },
  say: (line: string) => void,
): Promise<number> {
  // Every setting is checked before any work starts.
  const options: StylizeOptions = {
    alpha: flags.alpha,
    beta: flags.beta,
    var: flags.var,
    size: flags.size,
    scales: flags.scales,
    iterations: flags.iterations,
    step: flags.step,
    optimizer: flags.optimizer,
    lr: flags.lr,
    beta1: flags.beta1,
    beta2: flags.beta2,
    history: flags.lbfgsHistory,
    tolerance: flags.tolerance,
    seed: flags.seed,
    styleWeights: flags.styleWeights,
    styleScale: flags.styleScale,
    styleLayers: flags.styleLayers,
    contentLayers: flags.contentLayers,
    styleLayerWeights: flags.styleLayerWeights,
    pooling: flags.pooling,
    preserveColors: flags.preserveColors,
    resume,
    snapshotEvery: flags.saveEvery,
    checkpointEvery: flags.checkpoint ? (flags.saveEvery ?? DEFAULT_CHECKPOINT_EVERY) : undefined,
  };
  const { scales: sizes, iterations: counts } = asUsage(() => checkStylizeOptions(options, stylePaths.length));
  checkWorkingSize(flags);
  checkOutputPath(flags.output);
  if (flags.checkpoint) checkWritable(flags.checkpoint, 'checkpoint');
  const read = (file: string, label: string) => readImage(file, label, { maxInputPixels: flags.maxInputPixels });
  const content = await read(contentPath, 'content image');
  const styleLabel = (i: number) => (stylePaths.length > 1 ? `style image ${i + 1}` : 'style image');
  const styles: tf.Tensor3D[] = [];
  for (const [i, file] of stylePaths.entries()) styles.push(await read(file, styleLabel(i)));
  const keyword = ['content', 'noise', 'style'].includes(flags.init);
  const init = keyword ? (flags.init as 'content' | 'noise' | 'style') : await read(flags.init, 'init image');
  const weights = await ensureWeights({ explicit: flags.weights, log: say });
  say(describeBackend(backend));
  if (resume) say(`resuming ${resumePath} at scale ${resume.scale + 1}, iteration ${resume.state.iteration}`);
  if (sizes.length > 1) say(`scales: ${sizes.join(', ')} px, iterations ${counts.join(', ')}`);

  // Ctrl-C (or a kill) ends the run between iterations; the best image so far is still written.
  const abort = new AbortController();
  let signalCode = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143); // a second one: give up now
    signalCode = signal === 'SIGINT' ? 130 : 143;
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = progressReporter(flags, counts);
  let image: tf.Tensor3D | null = null;
  let cost = NaN;
  const evaluationsPerScale = counts.map(() => 0);
  let failure: unknown = null;
  try {
    [image, cost] = await asUsageAsync(() => stylize(styles, content, {
      ...options,
      weights: weights.path,
      init,
      imageNames: { content: `content image ${contentPath}`, styles: stylePaths.map((file, i) => `${styleLabel(i)} ${file}`) },
      onSnapshot: async (snapshot, iteration) => writeImage(snapshotPath(flags.output, iteration), snapshot),
      onCheckpoint: flags.checkpoint ? (checkpoint) => saveCheckpoint(flags.checkpoint!, checkpoint) : undefined,
      signal: abort.signal,
      onProgress: (e) => {
        evaluationsPerScale[(e.scale?.index ?? 1) - 1] = e.evaluations;
        progress.update(e);
      },
      log: (line) => {
        if (!flags.quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        process.stdout.write(`${line}\n`);
      },
    }));
  } catch (error) {
    if (!(error instanceof NonFiniteCostError)) throw error;
    // Before any step, only the settings can be at fault: weights so large that the cost overflows.
    if (!error.bestImage) throw new InputError(`${error.message}, before any step: lower --alpha, --beta or --var (the cost must fit in float32)`);
    failure = error;
    image = tf.squeeze(error.bestImage, [0]) as tf.Tensor3D;
    cost = error.bestCost;
    error.bestImage.dispose();
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    tf.dispose([content, ...styles]);
    if (typeof init !== 'string') init.dispose();
  }
  await writeImage(flags.output, image);
  const [h, w] = image.shape;
  image.dispose();
  const evaluations = evaluationsPerScale.reduce((a, b) => a + b, 0);
  say(`wrote ${flags.output} (${w}×${h}) after ${evaluations} evaluations, best cost ${cost}`);
  if (failure) throw failure;
  if (signalCode) say(`interrupted: ${flags.output} holds the best image so far${flags.checkpoint ? `; continue with --resume ${flags.checkpoint}` : ''}`);
  return signalCode;
}

/**
 * The working images are at most --size px on each side, the style images --style-scale × --size:
 * their area must be within --max-input-pixels too, so that a mistyped size is refused at once
 * rather than filling the memory.
 */
function checkWorkingSize(flags: StylizeFlags): void {
  const styleSide = Math.round(flags.styleScale * flags.size);
  const sides: [string, number][] = [
    [`--size ${flags.size}: working images`, flags.size],
    [`--style-scale ${flags.styleScale} × --size ${flags.size}: style images`, styleSide],
  ];
  for (const [what, side] of sides) {
    if (side * side > flags.maxInputPixels) {
      const limit = flags.maxInputPixels.toLocaleString('en-US');
      throw new InputError(`${what} of up to ${side}×${side} px are more than the limit of ${limit} pixels (raise it with --max-input-pixels)`);
    }
  }
}

/** Builds the command tree; each action stores its exit code in `result`. */
function buildProgram(result: { code: number }): Command {
  const program = new Command('nst')
    .description('Neural style transfer (Gatys et al.): repaint a photo in the style of a painting, with VGG19 on TensorFlow.js')
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    // Usage errors are one line, in the same form as every other error.
    .configureOutput({ outputError: (text, write) => write(`nst: ${text.replace(/^error: /, '')}`) });

  program
    .command('stylize')
    .description('optimise an image that keeps the content of <content> and the style of <style>')
    .argument('<content>', 'content image (the photo)')
    .argument('<styles...>', 'style image(s) (the paintings); several are blended by --style-weights')
    .requiredOption('-o, --output <file>', `output image (${IMAGE_EXTENSIONS.join(', ')})`)
    .option('--size <px>', 'longest side of the output in pixels', positiveInt('size'), 512)
    .option('--alpha <n>', 'weight of the content cost', nonNegative('alpha'), 1e4)
    .option('--beta <n>', 'weight of the style cost', nonNegative('beta'), 1)
    .option('--var <n>', 'weight of the variational (smoothness) cost', nonNegative('var'), 10)
    .option(
      '--iterations <n>',
      'optimisation steps: a total (split over the scales, halving at each) or one count per scale (300,200,100)',
      positiveIntOrList('iterations must be a positive integer or a comma-separated list of them'),
      1000,
    )
    .option(
      '--scales <n>',
      'coarse-to-fine: n scales each twice the one before, or their sizes (128,256); the last is --size',
      positiveIntOrList('scales must be a positive integer or a comma-separated list of sizes'),
      1,
    )
    .option('--step <n>', 'print the costs every n iterations (and at the last)', positiveInt('step'))
    .addOption(new Option('--optimizer <name>', 'optimisation algorithm').choices([...OPTIMIZER_NAMES]).default('adam'))
    .option('--lr <n>', 'Adam learning rate', positive('lr'), 0.01)
    .option('--beta1 <n>', 'Adam decay of the first moment, in [0, 1)', decay('beta1'), 0.9)
    .option('--beta2 <n>', 'Adam decay of the second moment, in [0, 1)', decay('beta2'), 0.99)
    .option('--lbfgs-history <n>', 'L-BFGS: correction pairs kept', positiveInt('lbfgs-history'), 100)
    .option('--tolerance <n>', 'L-BFGS: stop when the relative decrease or gradient falls below this (0: never)', nonNegative('tolerance'), 1e-6)
    .option('--init <kind>', 'initial image: content, noise, style, or an image file', 'content')
    .option('--seed <n>', 'random seed (for --init noise): same seed, same image', integer('seed'))
    .addOption(
      new Option('--preserve-colors <how>', "keep the content's colours: luminance-only transfer, histogram matching of the style, or a chroma swap after the run")
        .choices([...PRESERVE_COLORS])
        .default('none'),
    )
    .option('--style-weights <list>', 'weights of the style images (normalised; default equal)', weightList('style-weights'))
    .option('--style-scale <f>', 'scale the style images to f × the output size (bigger strokes above 1)', positive('style-scale'), 1)
    .option('--style-layers <list>', 'VGG19 conv layers that carry the style', nameList)
    .option('--content-layers <list>', 'VGG19 conv layers that carry the content', nameList)
    .option('--style-layer-weights <list>', 'weights of the style layers (normalised; default equal)', weightList('style-layer-weights'))
    .addOption(new Option('--pooling <kind>', 'pooling between the VGG19 blocks').choices(['avg', 'max']).default('avg'))
    .option('--save-every <n>', 'write the best image so far every n iterations as OUT_000100.png (and the checkpoint)', positiveInt('save-every'))
    .option('--checkpoint <file>', `save the whole run state every --save-every (else ${DEFAULT_CHECKPOINT_EVERY}) iterations and at Ctrl-C`)
    .option('--resume <file>', 'continue the run saved in a checkpoint (its settings apply unless given)')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices([...BACKEND_NAMES]).default('auto'))
    .option('--threads <n>', `threads of the wasm backend, at most ${MAX_THREADS} (default: all cores, at most 8)`, threadCount, defaultThreads())
    .option('--weights <file>', 'VGG19 weights (Keras HDF5); default: $NST_WEIGHTS, the cache, or a download')
    .option(
      '--max-input-pixels <n>',
      'refuse input images of more pixels than this (read from the file header), and a --size whose square exceeds it',
      positiveInt('max-input-pixels'),
      DEFAULT_MAX_INPUT_PIXELS,
    )
    .option('-q, --quiet', 'no progress bar or messages on stderr')
    .addHelpText('after', STYLIZE_EXAMPLES)
    .action(async (content: string, styles: string[], flags: StylizeFlags, command: Command) => {
      result.code = await stylizeCommand(content, styles, flags, (flag) => command.getOptionValueSource(flag) === 'cli');
    });

  const weights = program.command('weights').description('find, download or check the VGG19 weights');
  weights
    .command('path')
    .description('print where the weights are read from (or would be downloaded to)')
    .option('--weights <file>', 'an explicit weights file')
    .action(async (flags: { weights?: string }) => {
      result.code = await weightsCommand('path', { weights: flags.weights });
    });
  weights
    .command('fetch')
    .description('download the official Keras VGG19 weights into the cache (checked by md5)')
    .option('--url <url>', 'download from this address instead')
    .option('--md5 <hash>', 'expected md5 of the file from --url')
    .option('-q, --quiet', 'no progress bar')
    .action(async (flags: { url?: string; md5?: string; quiet?: boolean }) => {
      result.code = await weightsCommand('fetch', flags);
    });
  weights
    .command('verify')
    .description('check that FILE is a complete VGG19 weights file')
    .argument('<file>', 'weights file (Keras HDF5)')
    .action(async (file: string) => {
      result.code = await weightsCommand('verify', { file });
    });
  return program;
}

/** Runs the command line; returns the exit code (0 done, 2 bad usage or input, 1 other failure). */
export async function main(argv: string[]): Promise<number> {
  const result = { code: 0 };
  const program = buildProgram(result);
  try {
    await program.parseAsync(argv);
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message (or the help).
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? 0 : 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`nst: ${message}\n`);
    return error instanceof InputError ? 2 : 1;
  }
}
