/**
 * Every setting of a run, defined once: its name (the key), default, check, command-line spelling
 * and whether it shapes the result. The defaults are the default run, tuned by measurement
 * (bench/README.md); a preset (presets.ts) replaces some of them by name. The command's flags and
 * a manifest's columns (cli/flags.ts), the settings a checkpoint records and a resume must match,
 * the `start` event's settings and the library's defaults (resolveSettings) are all derived from
 * this table.
 */
import { settingError } from '../errors.js';
import { AUTO_LOWEST_START, AUTO_MIN_SCALE, AUTO_SCALES, schedule } from './schedule.js';
import { POOLINGS, VGG19_CONV_NAMES, type Pooling } from '../engine/vgg19.js';
import { STYLE_LOSS_NAMES, type StyleLossName } from '../engine/objective/style.js';
import { DEFAULT_MAX_INPUT_PIXELS } from '../io/header.js';
import { MIN_TILE_SIZE } from '../engine/tiles.js';
import { PRESET_HELP, PRESET_NAMES, PRESETS, type PresetName } from './presets.js';

/** How `preserveColors` keeps the content's colours (see color.ts). */
export type PreserveColors = 'none' | 'luminance' | 'histogram' | 'swap';
export const PRESERVE_COLORS: readonly PreserveColors[] = ['none', 'luminance', 'histogram', 'swap'];

export type OptimizerName = 'adam' | 'lbfgs';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'lbfgs'];

/** Gatys et al.'s five style layers; the content layer that keeps the photo at every size (bench/README.md). */
export const DEFAULT_STYLE_LAYERS: readonly string[] = Object.freeze([
  'block1_conv1',
  'block2_conv1',
  'block3_conv1',
  'block4_conv1',
  'block5_conv1',
]);
export const DEFAULT_CONTENT_LAYERS: readonly string[] = Object.freeze(['block4_conv2']);

/** How the style layers are weighted when no list is given: alike, or each 4× the next deeper one. */
export type LayerWeighting = 'equal' | 'falling';
export const LAYER_WEIGHTINGS: readonly LayerWeighting[] = ['equal', 'falling'];
/** 'falling': each layer this many times the weight of the next (crowsonkb's 256:64:16:4:1). */
const FALLING_RATIO = 4;

/** What a value's check says: null when it is fine, else what it must be ("must be positive"). */
export type Check<T> = (value: T) => string | null;

/** One setting. `T` is the type of its value once resolved. */
export interface Setting<T> {
  readonly default: T;
  readonly check: Check<T>;
  /** The flag: `--${name} ${arg}`, its help line, and how its text becomes a value (undefined: not one). */
  readonly flag: {
    readonly name: string;
    readonly arg: string;
    readonly help: string;
    readonly choices?: readonly string[];
    /** What the flag's text must be, where it differs from the value's rule (a list is written with commas). */
    readonly rule?: string;
  };
  readonly parse: (text: string) => T | undefined;
  /** Part of the result: a checkpoint records it, a resume must match it, the `start` event lists it. */
  readonly shapes: boolean;
  /** Only the command has it (how it reports), the library's `stylize` does not take it. */
  readonly commandOnly?: boolean;
}

// Value checks, worded so that "<name> <problem>" reads as a sentence.
const isNum = (x: unknown): x is number => typeof x === 'number' && !Number.isNaN(x);
export const nonNegative: Check<number> = (x) =>
  isNum(x) && Number.isFinite(x) && x >= 0 ? null : 'must be a non-negative number';
export const positive: Check<number> = (x) => (isNum(x) && Number.isFinite(x) && x > 0 ? null : 'must be positive');
export const positiveInt: Check<number> = (x) => (Number.isInteger(x) && x > 0 ? null : 'must be a positive integer');
export const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (x) =>
    x === undefined ? null : check(x);
/** Adam's decay rates: at 1 its bias correction divides by zero (beta1) or its steps are 0 (beta2). */
const decay: Check<number> = (x) => (isNum(x) && x >= 0 && x < 1 ? null : 'must be in the range [0, 1)');
const oneOf =
  <T extends string>(choices: readonly T[]): Check<T> =>
  (x) =>
    choices.includes(x) ? null : `must be ${choices.join(', ')}`;
const intOrList: Check<number | readonly number[]> = (x) =>
  (typeof x === 'number' ? [x] : Array.isArray(x) && x.length > 0 ? x : [NaN]).every(
    (n) => Number.isInteger(n) && n > 0,
  )
    ? null
    : 'must be a positive integer or a list of them';
const weightList: Check<readonly number[] | undefined> = (x) =>
  x === undefined || (Array.isArray(x) && x.every((w) => isNum(w) && Number.isFinite(w) && w >= 0))
    ? null
    : 'must be a list of non-negative numbers';
const layerWeights: Check<readonly number[] | LayerWeighting> = (x) =>
  (LAYER_WEIGHTINGS as readonly unknown[]).includes(x) || weightList(x as readonly number[]) === null
    ? null
    : `must be ${LAYER_WEIGHTINGS.join(', ')} or a list of non-negative numbers`;
/** Image files: non-empty names (the command reads them; the library takes the images themselves). */
const fileList: Check<readonly string[]> = (x) =>
  Array.isArray(x) && x.length > 0 && x.every((f) => typeof f === 'string' && f.trim() !== '')
    ? null
    : 'must be a list of image files';
const fileList1: Check<string> = (x) => (typeof x === 'string' && x.trim() !== '' ? null : 'must be an image file');
const layerList: Check<readonly string[]> = (x) => {
  if (!Array.isArray(x) || x.length === 0) return 'must name at least one layer';
  const unknown = x.find((layer) => !VGG19_CONV_NAMES.includes(layer));
  if (unknown !== undefined) return `: unknown layer ${unknown}; use VGG19 conv layers block1_conv1 … block5_conv4`;
  return new Set(x).size === x.length ? null : 'names a layer twice';
};

/** A decimal number ("12", "-0.5", "1e4"; "1e999" is Infinity); NaN for anything else, 0x10 included. */
export function parseDecimal(text: string): number {
  const trimmed = text.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed) ? Number(trimmed) : NaN;
}

// Flag text parsers: undefined when the text is not a value of the kind.
export const parseNumber = (text: string): number | undefined => (text.trim() === '' ? undefined : parseDecimal(text));
const parseList = (text: string): number[] | undefined =>
  text.trim() === '' ? undefined : text.split(',').map(parseDecimal);
const parseIntOrList = (text: string): number | number[] | undefined => {
  const parts = parseList(text);
  return parts && parts.length === 1 && !text.includes(',') ? parts[0] : parts;
};
/** A size in bytes: a decimal number with an optional K, M, G or T (powers of 1024; B allowed after). */
export function parseBytes(text: string): number | undefined {
  if (text.trim() === '') return undefined;
  const m = /^\s*([0-9.e+-]+)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) return NaN;
  const unit = 1024 ** ' kmgt'.indexOf(m[2]!.toLowerCase() || ' ');
  return Math.round(parseDecimal(m[1]!) * unit);
}
const parseNames = (text: string): string[] => text.split(',').map((part) => part.trim());
/** A switch's text (a manifest's column): yes/true/1 or no/false/0. */
const parseBoolean = (text: string): boolean | undefined => {
  const t = text.trim().toLowerCase();
  return ['yes', 'true', '1'].includes(t) ? true : ['no', 'false', '0'].includes(t) ? false : undefined;
};
export const parseText = <T extends string>(text: string): T | undefined => text as T;

/**
 * One entry of the table: `setting<T>()({ … })`. Curried so that `shapes` and `commandOnly` keep
 * their literal types (true / false) while T is given: the types below sort the settings by them.
 */
export function setting<T>() {
  return <const S extends boolean, const C extends boolean = false>(
    spec: Setting<T> & { shapes: S; commandOnly?: C },
  ): Setting<T> & { shapes: S; commandOnly?: C } => Object.freeze(spec);
}

/** The table. The keys are the library's option names; `flag.name` is the command's spelling. */
export const SETTINGS = {
  preset: setting<PresetName | undefined>()({
    default: undefined,
    check: optional(oneOf(PRESET_NAMES)),
    flag: {
      name: 'preset',
      arg: '<name>',
      help: `settings by name, under the flags given: ${PRESET_NAMES.map((n) => `${n} (${PRESET_HELP[n]})`).join('; ')}`,
      choices: PRESET_NAMES,
    },
    parse: (text) => parseText(text),
    shapes: false,
  }),
  size: setting<number>()({
    default: 512,
    check: positiveInt,
    flag: { name: 'size', arg: '<px>', help: 'longest side of the output in pixels' },
    parse: parseNumber,
    shapes: true,
  }),
  alpha: setting<number>()({
    default: 100,
    check: nonNegative,
    flag: { name: 'alpha', arg: '<n>', help: 'weight of the content cost' },
    parse: parseNumber,
    shapes: true,
  }),
  beta: setting<number>()({
    default: 1,
    check: nonNegative,
    flag: { name: 'beta', arg: '<n>', help: 'weight of the style cost' },
    parse: parseNumber,
    shapes: true,
  }),
  var: setting<number>()({
    default: 10,
    check: nonNegative,
    flag: { name: 'var', arg: '<n>', help: 'weight of the variational (smoothness) cost' },
    parse: parseNumber,
    shapes: true,
  }),
  iterations: setting<number | readonly number[]>()({
    default: [60, 185],
    check: intOrList,
    flag: {
      name: 'iterations',
      arg: '<n>',
      help: 'most optimisation steps: a total (split over the scales, halving at each) or one count per scale (300,200,100)',
      rule: 'must be a positive integer or a comma-separated list of them',
    },
    parse: parseIntOrList,
    shapes: true,
  }),
  scales: setting<number | readonly number[] | 'auto'>()({
    default: 'auto',
    check: (x) => (x === 'auto' || !intOrList(x) ? null : 'must be auto, a positive integer or a list of sizes'),
    flag: {
      name: 'scales',
      arg: '<n>',
      help: `coarse-to-fine: n scales each --scale-ratio (2) times the one before, or their sizes (128,256); the last is --size; auto (without --min-scale): one per --iterations count (a total: up to ${AUTO_SCALES}), none below ${AUTO_MIN_SCALE} px but one halving (to ${AUTO_LOWEST_START} px at least) from a smaller --size`,
      rule: 'must be auto, a positive integer or a comma-separated list of sizes',
    },
    parse: (text) => (text.trim() === 'auto' ? 'auto' : parseIntOrList(text)),
    shapes: true,
  }),
  scaleRatio: setting<number>()({
    default: 2,
    check: (x) => (isNum(x) && x > 1 && x <= 4 ? null : 'must be more than 1 and at most 4'),
    flag: {
      name: 'scale-ratio',
      arg: '<r>',
      help: 'coarse-to-fine: each scale r times the one before (with --scales n, or auto with --min-scale)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  minScale: setting<number | undefined>()({
    default: undefined,
    check: optional(positiveInt),
    flag: {
      name: 'min-scale',
      arg: '<px>',
      help: 'with --scales auto: start at this size and step up by --scale-ratio to --size; a list of --iterations gives its counts to the scales in order, its last to every later one',
    },
    parse: parseNumber,
    shapes: true,
  }),
  convergence: setting<number>()({
    default: 0.03,
    check: (x) => (isNum(x) && x >= 0 && x < 1 ? null : 'must be in the range [0, 1)'),
    flag: {
      name: 'converge',
      arg: '<f>',
      help: 'end a scale when its best cost fell by less than this fraction over the last --converge-window iterations (0: never)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  convergenceWindow: setting<number>()({
    default: 20,
    check: positiveInt,
    flag: { name: 'converge-window', arg: '<n>', help: 'iterations over which --converge measures the decrease' },
    parse: parseNumber,
    shapes: true,
  }),
  optimizer: setting<OptimizerName>()({
    default: 'lbfgs',
    check: oneOf(OPTIMIZER_NAMES),
    flag: { name: 'optimizer', arg: '<name>', help: 'optimisation algorithm', choices: OPTIMIZER_NAMES },
    parse: (text) => parseText(text),
    shapes: true,
  }),
  lr: setting<number>()({
    default: 0.01,
    check: positive,
    flag: { name: 'lr', arg: '<n>', help: 'Adam learning rate' },
    parse: parseNumber,
    shapes: true,
  }),
  beta1: setting<number>()({
    default: 0.9,
    check: decay,
    flag: { name: 'beta1', arg: '<n>', help: 'Adam decay of the first moment, in [0, 1)' },
    parse: parseNumber,
    shapes: true,
  }),
  beta2: setting<number>()({
    default: 0.99,
    check: decay,
    flag: { name: 'beta2', arg: '<n>', help: 'Adam decay of the second moment, in [0, 1)' },
    parse: parseNumber,
    shapes: true,
  }),
  average: setting<number>()({
    default: 0,
    check: decay,
    flag: {
      name: 'average',
      arg: '<decay>',
      help: "iterate averaging: each scale's result is the moving average of its iterates with this decay (0.99: crowsonkb's); 0: off",
    },
    parse: parseNumber,
    shapes: true,
  }),
  carryMoments: setting<boolean>()({
    default: false,
    check: (x) => (typeof x === 'boolean' ? null : 'must be true or false'),
    flag: {
      name: 'carry-moments',
      arg: '',
      help: "Adam: start each scale from the previous scale's moments, resized (crowsonkb's), not from zero",
    },
    parse: parseBoolean,
    shapes: true,
  }),
  history: setting<number>()({
    default: 100,
    check: positiveInt,
    flag: { name: 'lbfgs-history', arg: '<n>', help: 'L-BFGS: correction pairs kept' },
    parse: parseNumber,
    shapes: true,
  }),
  tolerance: setting<number>()({
    default: 1e-6,
    check: nonNegative,
    flag: {
      name: 'tolerance',
      arg: '<n>',
      help: 'L-BFGS: stop when the relative decrease or gradient falls below this (0: never)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  init: setting<string>()({
    default: 'content',
    check: (x) => (typeof x === 'string' && x !== '' ? null : 'must be content, noise, style or an image'),
    flag: { name: 'init', arg: '<kind>', help: 'initial image: content, noise, style, or an image file' },
    parse: (text) => parseText(text),
    shapes: true,
  }),
  seed: setting<number | undefined>()({
    default: undefined,
    check: optional((x) => (Number.isInteger(x) ? null : 'must be an integer')),
    flag: { name: 'seed', arg: '<n>', help: 'random seed (for --init noise): same seed, same image' },
    parse: parseNumber,
    shapes: true,
  }),
  preserveColors: setting<PreserveColors>()({
    default: 'none',
    check: oneOf(PRESERVE_COLORS),
    flag: {
      name: 'preserve-colors',
      arg: '<how>',
      help: "keep the content's colours: luminance-only transfer, histogram matching of the style, or a chroma swap after the run",
      choices: PRESERVE_COLORS,
    },
    parse: (text) => parseText(text),
    shapes: true,
  }),
  styleWeights: setting<readonly number[] | undefined>()({
    default: undefined,
    check: weightList,
    flag: {
      name: 'style-weights',
      arg: '<list>',
      help: 'weights of the style images (normalised; default equal)',
      rule: 'must be a comma-separated list of non-negative numbers',
    },
    parse: parseList,
    shapes: true,
  }),
  styleScale: setting<number>()({
    default: 1,
    check: positive,
    flag: {
      name: 'style-scale',
      arg: '<f>',
      help: 'scale the style images to f × the output size (bigger strokes above 1)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  styleMasks: setting<readonly string[] | undefined>()({
    default: undefined,
    check: optional(fileList),
    flag: {
      name: 'style-masks',
      arg: '<files>',
      help: 'one mask per style image: where in the output that style goes (white: here; uncovered: no style)',
      rule: 'must be a comma-separated list of image files',
    },
    parse: (text) => (text.trim() === '' ? undefined : parseNames(text)),
    shapes: true,
  }),
  mask: setting<string | undefined>()({
    default: undefined,
    check: optional(fileList1),
    flag: {
      name: 'mask',
      arg: '<file>',
      help: 'stylise only where this mask is white: elsewhere the output is the photo',
    },
    parse: (text) => parseText(text),
    shapes: true,
  }),
  invertMask: setting<boolean>()({
    default: false,
    check: (x) => (typeof x === 'boolean' ? null : 'must be true or false'),
    flag: { name: 'invert-mask', arg: '', help: 'stylise where --mask is black instead' },
    parse: parseBoolean,
    shapes: true,
  }),
  styleLayers: setting<readonly string[]>()({
    default: DEFAULT_STYLE_LAYERS,
    check: layerList,
    flag: { name: 'style-layers', arg: '<list>', help: 'VGG19 conv layers that carry the style' },
    parse: parseNames,
    shapes: true,
  }),
  contentLayers: setting<readonly string[]>()({
    default: DEFAULT_CONTENT_LAYERS,
    check: layerList,
    flag: { name: 'content-layers', arg: '<list>', help: 'VGG19 conv layers that carry the content' },
    parse: parseNames,
    shapes: true,
  }),
  styleLayerWeights: setting<readonly number[] | LayerWeighting>()({
    default: 'falling',
    check: layerWeights,
    flag: {
      name: 'style-layer-weights',
      arg: '<list>',
      help: `weights of the style layers (normalised), or falling (each ${FALLING_RATIO}× the next deeper one's: 256:64:16:4:1 for five) or equal`,
      rule: 'must be falling, equal or a comma-separated list of non-negative numbers',
    },
    parse: (text) =>
      (LAYER_WEIGHTINGS as readonly string[]).includes(text.trim()) ? (text.trim() as LayerWeighting) : parseList(text),
    shapes: true,
  }),
  styleLoss: setting<StyleLossName>()({
    default: 'gram',
    check: oneOf(STYLE_LOSS_NAMES),
    flag: {
      name: 'style-loss',
      arg: '<kind>',
      help: "distance of the style layers' features to the style's: gram (Gatys et al.'s Gram matrices) or w2 (the Wasserstein-2 distance of their Gaussians)",
      choices: STYLE_LOSS_NAMES,
    },
    parse: (text) => parseText(text),
    shapes: true,
  }),
  pooling: setting<Pooling>()({
    default: 'max',
    check: oneOf(POOLINGS),
    flag: { name: 'pooling', arg: '<kind>', help: 'pooling between the VGG19 blocks', choices: POOLINGS },
    parse: (text) => parseText(text),
    shapes: true,
  }),
  tileSize: setting<number | undefined>()({
    default: undefined,
    check: optional((x) =>
      Number.isInteger(x) && x >= MIN_TILE_SIZE ? null : `must be an integer of at least ${MIN_TILE_SIZE} px`,
    ),
    flag: {
      name: 'tile-size',
      arg: '<px>',
      help: 'evaluate the scales larger than this in tiles of at most this many px (default: only the scales that would not fit in memory, in the largest tiles that fit)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  maxMemory: setting<number | undefined>()({
    default: undefined,
    check: optional((x) => (Number.isInteger(x) && x > 0 ? null : 'must be a positive size such as 8G or 512M')),
    flag: {
      name: 'max-memory',
      arg: '<size>',
      help: 'the memory a run may use (8G, 512M, bytes; default: what the system has free): scales that would need more are tiled',
      rule: 'must be a size such as 8G, 1.5G or 512M',
    },
    parse: parseBytes,
    shapes: false,
  }),
  snapshotEvery: setting<number | undefined>()({
    default: undefined,
    check: optional(positiveInt),
    flag: {
      name: 'save-every',
      arg: '<n>',
      help: 'write the best image so far every n iterations as OUT_000100.png (and the checkpoint)',
    },
    parse: parseNumber,
    shapes: false,
  }),
  reportEvery: setting<number | undefined>()({
    default: undefined,
    check: optional(positiveInt),
    flag: {
      name: 'step',
      arg: '<n>',
      help: 'print the costs every n iterations (and at the last); with --json, progress events every n (default 10)',
    },
    parse: parseNumber,
    shapes: false,
    commandOnly: true,
  }),
  maxInputPixels: setting<number>()({
    default: DEFAULT_MAX_INPUT_PIXELS,
    check: positiveInt,
    flag: {
      name: 'max-input-pixels',
      arg: '<n>',
      help: 'refuse input images of more pixels than this (read from the file header), and a --size whose square exceeds it',
    },
    parse: parseNumber,
    shapes: false,
    commandOnly: true,
  }),
};

export type SettingName = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? T : never;
/** Every setting with its value: what the command resolves from its flags. */
export type Settings = { -readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };
/** The settings the library's `stylize` takes (all optional: the table's defaults fill them in). */
export type RunOptions = Partial<Omit<Settings, CommandOnlyName>>;

/** The settings only the command has (`commandOnly`), and those that shape the result (`shapes`). */
type CommandOnlyName = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { commandOnly?: true } ? K : never;
}[SettingName];
export type ShapingName = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { shapes: true } ? K : never;
}[SettingName];

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Each preset's values are values of the table's settings. */
const PRESET_VALUES: Readonly<Record<PresetName, Partial<Settings>>> = PRESETS;

/** The values a preset sets (none for no preset). */
export function presetValues(preset: PresetName | undefined): Partial<Settings> {
  // An unknown name sets nothing: withDefaults' check of `preset` refuses it.
  return preset !== undefined && Object.hasOwn(PRESET_VALUES, preset) ? PRESET_VALUES[preset] : {};
}

/**
 * The table's defaults, the values of `given.preset` over them and `given` over those, each value
 * checked; an InputError names the first bad one.
 */
export function withDefaults(given: Partial<Settings>): Settings {
  return tableValues(SETTINGS, given, presetValues(given.preset)) as Settings;
}

/**
 * Every setting of a table: its value in `given`, else in `fallback`, else its default, each
 * checked in the table's order; an InputError names the first bad one.
 */
export function tableValues(table: object, given: object, fallback: object = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table) as [string, Setting<unknown>][]) {
    const value =
      (given as Record<string, unknown>)[name] ?? (fallback as Record<string, unknown>)[name] ?? spec.default;
    const problem = spec.check(value);
    if (problem !== null) throw settingError(name, problem);
    out[name] = value;
  }
  return out;
}

/** The settings that shape the result, in the table's order. */
export const SHAPING_NAMES = SETTING_NAMES.filter((name): name is ShapingName => SETTINGS[name].shapes);

/**
 * The settings that shape a run's result, resolved: the scales as sizes, the iterations one count
 * per scale, the weights normalised, an image given as `init` recorded as 'image'. What a
 * checkpoint records, a resume must match and the `start` event lists.
 */
export type RunSettings = Omit<Pick<Settings, ShapingName>, Resolved> & {
  scales: number[];
  iterations: number[];
  seed: number | null;
  /** null: tiles only where a scale would not fit in memory. */
  tileSize: number | null;
  /** Masks given: 'image' each (their pixels are in the inputs' fingerprint); null: none. */
  styleMasks: string[] | null;
  mask: string | null;
  minScale: number | null;
  styleWeights: number[];
  styleLayers: string[];
  contentLayers: string[];
  styleLayerWeights: number[];
};
/** The settings whose resolved form differs from the value given. */
type Resolved =
  | 'scales'
  | 'iterations'
  | 'seed'
  | 'tileSize'
  | 'styleMasks'
  | 'mask'
  | 'minScale'
  | 'styleWeights'
  | 'styleLayers'
  | 'contentLayers'
  | 'styleLayerWeights';

/** Non-negative weights, one per item, not all zero, normalised to sum 1 (default: equal). */
export function normaliseWeights(
  weights: readonly number[] | undefined,
  count: number,
  name: SettingName,
  items: string,
): number[] {
  if (weights === undefined) return Array<number>(count).fill(1 / count);
  if (weights.length !== count) throw settingError(name, `must have one weight per ${items} (${count})`);
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw settingError(name, 'must not all be zero');
  return weights.map((w) => w / sum);
}

/** A weighting's list for `count` style layers (a given list as it is). */
function layerWeightList(weights: readonly number[] | LayerWeighting, count: number): readonly number[] {
  if (weights === 'equal') return Array<number>(count).fill(1);
  if (weights === 'falling') return Array.from({ length: count }, (_, i) => FALLING_RATIO ** (count - 1 - i));
  return weights;
}

/**
 * The library's options for `styleCount` style images checked and resolved against the table:
 * an InputError names the first bad setting. `init` may be an image (recorded as 'image'); the
 * masks are images (each recorded as 'image'), one style mask per style image.
 */
export function resolveRunSettings(
  options: Omit<RunOptions, 'init' | 'styleMasks' | 'mask'> & { init?: unknown; styleMasks?: unknown; mask?: unknown },
  styleCount: number,
): RunSettings {
  const image = options.init !== undefined && typeof options.init !== 'string';
  const { styleMasks, mask } = options;
  if (styleMasks !== undefined && !(Array.isArray(styleMasks) && styleMasks.length === styleCount))
    throw settingError('styleMasks', `must have one mask per style image (${styleCount})`);
  const s = withDefaults({
    ...options,
    init: image ? 'image' : (options.init as string | undefined),
    styleMasks: styleMasks === undefined ? undefined : styleMasks.map(() => 'image'),
    mask: mask === undefined ? undefined : 'image',
  });
  if (s.invertMask && s.mask === undefined) throw settingError('invertMask', 'needs a mask');
  if (s.carryMoments && s.optimizer !== 'adam') throw settingError('carryMoments', 'needs the adam optimizer');
  const steps = { ratio: s.scaleRatio, ...(s.minScale === undefined ? {} : { from: s.minScale }) };
  const { sizes: scales, counts } = schedule(s.size, s.scales, s.iterations, steps);
  const shaping = Object.fromEntries(SHAPING_NAMES.map((name) => [name, s[name]])) as Pick<Settings, ShapingName>;
  return {
    ...shaping,
    scales,
    iterations: counts,
    seed: s.seed ?? null,
    tileSize: s.tileSize ?? null,
    styleMasks: s.styleMasks ? [...s.styleMasks] : null,
    mask: s.mask ?? null,
    minScale: s.minScale ?? null,
    styleWeights: normaliseWeights(s.styleWeights, styleCount, 'styleWeights', 'style image'),
    styleLayers: [...s.styleLayers],
    contentLayers: [...s.contentLayers],
    styleLayerWeights: normaliseWeights(
      layerWeightList(s.styleLayerWeights, s.styleLayers.length),
      s.styleLayers.length,
      'styleLayerWeights',
      'style layer',
    ),
  };
}
