import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES, defaultThreads, type BackendName } from '../engine/tfjs/backend.js';
import { PRESERVE_COLORS, type PreserveColors } from '../core/color.js';
import type { Checkpoint, RunSettings, StylizeOptions } from '../core/stylize.js';
import { InputError } from '../errors.js';
import type { Pooling } from '../engine/tfjs/features.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../nst.js';
import { DEFAULT_MAX_INPUT_PIXELS } from '../io/images.js';

// The flags of a run, shared by `nst stylize`, `nst batch` and the option columns of a manifest.

/** Number parsers for flags: a bad value is a usage error naming the flag's rule. */
function number(rule: string, ok: (x: number) => boolean) {
  return (text: string): number => {
    const x = Number(text);
    if (text.trim() === '' || Number.isNaN(x) || !ok(x)) throw new InvalidArgumentError(rule);
    return x;
  };
}
const nonNegative = (name: string) =>
  number(`${name} must be a non-negative number`, (x) => Number.isFinite(x) && x >= 0);
const positive = (name: string) => number(`${name} must be positive`, (x) => Number.isFinite(x) && x > 0);
const positiveInt = (name: string) => number(`${name} must be a positive integer`, (x) => Number.isInteger(x) && x > 0);
/** Adam's decay rates: at 1 its bias correction divides by zero (beta1) or its steps are 0 (beta2). */
const decay = (name: string) => number(`${name} must be in the range [0, 1)`, (x) => x >= 0 && x < 1);
const integer = (name: string) => number(`${name} must be an integer`, (x) => Number.isInteger(x));
/** Each thread of the wasm backend is a worker with its own memory: a mistyped count must not start them all. */
const MAX_THREADS = 64;
const threadCount = number(
  `threads must be a positive integer, at most ${MAX_THREADS}`,
  (x) => Number.isInteger(x) && x > 0 && x <= MAX_THREADS,
);
/** A positive integer, or a comma-separated list of them ("300,200,100"). */
const positiveIntOrList =
  (rule: string) =>
  (text: string): number | number[] => {
    const parts = text.split(',').map((part) => Number(part.trim()));
    if (text.trim() === '' || !parts.every((x) => Number.isInteger(x) && x > 0)) throw new InvalidArgumentError(rule);
    return parts.length === 1 && !text.includes(',') ? parts[0]! : parts;
  };
/** A comma-separated list of non-negative numbers ("0.7,0.3"). */
const weightList =
  (name: string) =>
  (text: string): number[] => {
    const parts = text.split(',').map((part) => Number(part.trim()));
    if (text.trim() === '' || !parts.every((x) => Number.isFinite(x) && x >= 0))
      throw new InvalidArgumentError(`${name} must be a comma-separated list of non-negative numbers`);
    return parts;
  };
/** A comma-separated list of names ("block1_conv1,block2_conv1"). */
const nameList = (text: string): string[] => text.split(',').map((part) => part.trim());

/** The flags that shape a run: the same for `stylize`, `batch` and a manifest's option columns. */
export interface RunFlags {
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
  styleWeights?: number[];
  styleScale: number;
  styleLayers?: string[];
  contentLayers?: string[];
  styleLayerWeights?: number[];
  pooling: Pooling;
  preserveColors: PreserveColors;
  saveEvery?: number;
  maxInputPixels: number;
}

/** The flags of the process: which backend, which weights, what is printed. */
export interface ProcessFlags {
  backend: BackendName;
  threads: number;
  weights?: string;
  quiet?: boolean;
  json?: boolean;
  memoryCheck: boolean;
}

/** Adds the run flags (RunFlags) to a command. */
export function addRunOptions(command: Command): Command {
  return command
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
    .option(
      '--step <n>',
      'print the costs every n iterations (and at the last); with --json, progress events every n (default 10)',
      positiveInt('step'),
    )
    .addOption(new Option('--optimizer <name>', 'optimisation algorithm').choices([...OPTIMIZER_NAMES]).default('adam'))
    .option('--lr <n>', 'Adam learning rate', positive('lr'), 0.01)
    .option('--beta1 <n>', 'Adam decay of the first moment, in [0, 1)', decay('beta1'), 0.9)
    .option('--beta2 <n>', 'Adam decay of the second moment, in [0, 1)', decay('beta2'), 0.99)
    .option('--lbfgs-history <n>', 'L-BFGS: correction pairs kept', positiveInt('lbfgs-history'), 100)
    .option(
      '--tolerance <n>',
      'L-BFGS: stop when the relative decrease or gradient falls below this (0: never)',
      nonNegative('tolerance'),
      1e-6,
    )
    .option('--init <kind>', 'initial image: content, noise, style, or an image file', 'content')
    .option('--seed <n>', 'random seed (for --init noise): same seed, same image', integer('seed'))
    .addOption(
      new Option(
        '--preserve-colors <how>',
        "keep the content's colours: luminance-only transfer, histogram matching of the style, or a chroma swap after the run",
      )
        .choices([...PRESERVE_COLORS])
        .default('none'),
    )
    .option(
      '--style-weights <list>',
      'weights of the style images (normalised; default equal)',
      weightList('style-weights'),
    )
    .option(
      '--style-scale <f>',
      'scale the style images to f × the output size (bigger strokes above 1)',
      positive('style-scale'),
      1,
    )
    .option('--style-layers <list>', 'VGG19 conv layers that carry the style', nameList)
    .option('--content-layers <list>', 'VGG19 conv layers that carry the content', nameList)
    .option(
      '--style-layer-weights <list>',
      'weights of the style layers (normalised; default equal)',
      weightList('style-layer-weights'),
    )
    .addOption(
      new Option('--pooling <kind>', 'pooling between the VGG19 blocks').choices(['avg', 'max']).default('avg'),
    )
    .option(
      '--save-every <n>',
      'write the best image so far every n iterations as OUT_000100.png (and the checkpoint)',
      positiveInt('save-every'),
    )
    .option(
      '--max-input-pixels <n>',
      'refuse input images of more pixels than this (read from the file header), and a --size whose square exceeds it',
      positiveInt('max-input-pixels'),
      DEFAULT_MAX_INPUT_PIXELS,
    );
}

/** Adds the process flags (ProcessFlags) to a command. */
export function addProcessOptions(command: Command): Command {
  return command
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices([...BACKEND_NAMES]).default('auto'))
    .option(
      '--threads <n>',
      `threads of the wasm backend, at most ${MAX_THREADS} (default: all cores, at most 8)`,
      threadCount,
      defaultThreads(),
    )
    .option('--weights <file>', 'VGG19 weights (Keras HDF5); default: $NST_WEIGHTS, the cache, or a download')
    .option('--json', 'newline-delimited JSON events on stdout instead of the progress bar and messages')
    .option('--no-memory-check', 'start even if the run looks too big for the memory available')
    .option('-q, --quiet', 'no progress bar or messages on stderr');
}

/** The library options of a run from its flags (images, callbacks and the model come separately). */
export function runOptions(flags: RunFlags): StylizeOptions {
  return {
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
    snapshotEvery: flags.saveEvery,
  };
}

/**
 * Run flags given as text (a manifest row's option columns, by long flag name without the dashes:
 * `alpha`, `style-scale`, …) parsed exactly as on the command line, over `base`. An unknown
 * column or a bad value is an InputError naming it.
 */
export function parseRunFlags(base: RunFlags, columns: Record<string, string>): RunFlags {
  const args = Object.entries(columns)
    .filter(([, value]) => value.trim() !== '')
    .map(([name, value]) => `--${name}=${value}`); // '=': a value may start with a dash
  const command = addRunOptions(new Command('job'))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .allowExcessArguments(false);
  try {
    command.parse(args, { from: 'user' });
  } catch (error) {
    throw new InputError((error as Error).message.replace(/^error: /, ''));
  }
  const given = Object.fromEntries(
    Object.entries(command.opts()).filter(([key]) => command.getOptionValueSource(key) === 'cli'),
  );
  return { ...base, ...given } as RunFlags;
}

/** Each result-shaping setting of a checkpoint and the flag (key of RunFlags) it comes from. */
const SETTING_FLAGS: Record<keyof RunSettings, keyof RunFlags> = {
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
export function flagsFromCheckpoint<F extends RunFlags>(
  flags: F,
  checkpoint: Checkpoint,
  given: (flag: string) => boolean,
): F {
  const merged: Record<string, unknown> = { ...(flags as object) };
  for (const [setting, flag] of Object.entries(SETTING_FLAGS) as [keyof RunSettings, keyof RunFlags][]) {
    if (given(flag)) continue;
    const value = checkpoint.settings[setting];
    if (setting === 'init' && value === 'image')
      throw new InputError("the checkpoint's run started from an image file: give the same --init FILE");
    merged[flag] = value ?? undefined;
  }
  return merged as unknown as F;
}
