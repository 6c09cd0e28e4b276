/**
 * The flags of a run, derived from the settings table (core/settings.ts): the same for
 * `nst stylize`, `nst batch` and the option columns of a manifest. And the flags of the process.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  parseDecimal,
  presetValues,
  SETTING_NAMES,
  SETTINGS,
  SHAPING_NAMES,
  type Setting,
  type SettingName,
  type Settings,
  withDefaults,
} from '../core/settings.js';
import type { Checkpoint } from '../core/stylize.js';
import { VIDEO_SETTINGS, type VideoSettings } from '../core/video-settings.js';
import { defaultThreads, DEVICES, ENGINE_NAMES, type Device, type EngineName } from '../engine/evaluator.js';
import { InputError, named } from '../errors.js';

/** The run flags, parsed: every setting of the table under its own name. */
export type RunFlags = Settings;

/** The flags of the process: which engine, which weights, what is printed. */
export interface ProcessFlags {
  backend: EngineName;
  device: Device;
  threads: number;
  weights?: string;
  quiet?: boolean;
  json?: boolean;
  memoryCheck: boolean;
}

/** Checkpoints are written this often when --save-every is not given. */
export const DEFAULT_CHECKPOINT_EVERY = 100;

/** commander's key for a flag: `--lbfgs-history` → `lbfgsHistory`. */
const attribute = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The command-line option of one setting (of either table): its parser applies the table's check. */
function optionOf(spec: Setting<unknown>): Option {
  const { flag } = spec;
  // A switch (no argument): given, it is on.
  if (flag.arg === '') return new Option(`--${flag.name}`, flag.help);
  const option = new Option(`--${flag.name} ${flag.arg}`, flag.help);
  if (flag.choices) option.choices([...flag.choices]);
  else {
    option.argParser((text: string) => {
      const value = spec.parse(text);
      const problem = value === undefined ? 'must be given' : spec.check(value);
      if (problem !== null) throw new InvalidArgumentError(named(flag.name, flag.rule ?? problem));
      return value;
    });
  }
  const shown = Array.isArray(spec.default) ? spec.default.join(',') : undefined;
  if (spec.default !== undefined) option.default(spec.default, shown);
  return option;
}

/** The default output name of a batch job. */
export const DEFAULT_NAME = '{content}-{style}.png';

const collect = (value: string, previous: string[]) => [...previous, value];

/** Adds the flags that plan a batch's jobs (cli/plan.ts PlanFlags, but the run flags) to a command. */
export function addPlanOptions(command: Command): Command {
  return command
    .option('--content <path>', 'content images: a file, a directory or a quoted glob (repeatable)', collect, [])
    .option('--style <path>', 'style images: a file, a directory or a quoted glob (repeatable)', collect, [])
    .option('--manifest <file>', 'the jobs as CSV or JSON: content, style, output and per-job options')
    .option('--out-dir <dir>', 'where the outputs go (created if missing)', '.')
    .option(
      '--name <pattern>',
      'output name: {content}, {style} (file names without extension), {index}',
      DEFAULT_NAME,
    );
}

/** Adds the run flags (RunFlags) to a command. */
export function addRunOptions(command: Command): Command {
  return addTableOptions(command, SETTINGS);
}

/** Adds the flags of a video run (core/video-settings.ts) to a command. */
export function addVideoOptions(command: Command): Command {
  return addTableOptions(command, VIDEO_SETTINGS);
}

/** The video flags given on a command line (their defaults come from videoSettings). */
export function givenVideoFlags(command: Command): Partial<VideoSettings> {
  return givenIn(command, VIDEO_SETTINGS) as Partial<VideoSettings>;
}

/** Adds a flag for each setting of a settings table. */
function addTableOptions(command: Command, table: object): Command {
  for (const spec of Object.values(table) as Setting<unknown>[]) command.addOption(optionOf(spec));
  return command;
}

/** The settings of a table given on the command line (not their defaults), by setting name. */
function givenIn(command: Command, table: object): Record<string, unknown> {
  const opts = command.opts();
  const given = (Object.entries(table) as [string, Setting<unknown>][]).filter(
    ([, spec]) => command.getOptionValueSource(attribute(spec.flag.name)) === 'cli',
  );
  return Object.fromEntries(given.map(([name, spec]) => [name, opts[attribute(spec.flag.name)]]));
}

/**
 * The run flags given on a command line, without commander's defaults (which only show in the
 * help): a preset fills in what is not given, and a resume takes the checkpoint's.
 */
export function givenFlags(command: Command): Partial<Settings> {
  return givenIn(command, SETTINGS) as Partial<Settings>;
}

/** The run flags: those given, over their preset's values, over the table's defaults. */
export function runFlags(given: Partial<Settings>): RunFlags {
  return withDefaults(given);
}

/** Whether a setting was given on the command line (not its default). */
export function givenOn(command: Command): (name: SettingName) => boolean {
  return (name) => command.getOptionValueSource(attribute(SETTINGS[name].flag.name)) === 'cli';
}

/** Each thread of the wasm backend is a worker with its own memory: a mistyped count must not start them all. */
const MAX_THREADS = 64;

function threadCount(text: string): number {
  const x = parseDecimal(text);
  if (!(Number.isInteger(x) && x > 0 && x <= MAX_THREADS)) {
    throw new InvalidArgumentError(`threads must be a positive integer, at most ${MAX_THREADS}`);
  }
  return x;
}

/**
 * Adds the process flags (ProcessFlags) to a command; `threads` replaces the --threads flag where
 * its default is not all cores (a queue worker shares them among its jobs).
 */
export function addProcessOptions(
  command: Command,
  threads = new Option('--threads <n>', `threads of the engine, at most ${MAX_THREADS}`)
    .argParser(threadCount)
    .default(defaultThreads(), `all cores, at most 8: ${defaultThreads()}`),
): Command {
  return command
    .addOption(
      new Option('--backend <name>', "compute engine: ONNX Runtime's native (onnx) or WebAssembly (onnx-wasm) build")
        .choices([...ENGINE_NAMES])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--device <name>',
        'where the onnx backend runs: a GPU through webgpu (Vulkan, Metal, Direct3D 12), cuda, dml or coreml, or the cpu; auto: cuda, dml or coreml where installed, webgpu on a discrete GPU (Linux), else the cpu',
      )
        .choices([...DEVICES])
        .default('auto'),
    )
    .addOption(threads)
    .option('--weights <file>', 'VGG19 weights (Keras HDF5); default: $NST_WEIGHTS, the cache, or a download')
    .option('--json', 'newline-delimited JSON events on stdout instead of the progress bar and messages')
    .option('--no-memory-check', 'start even if the run looks too big for the memory available')
    .option('-q, --quiet', 'no progress bar or messages on stderr');
}

/**
 * Run flags given as text (a manifest row's option columns, by long flag name without the dashes:
 * `alpha`, `style-scale`, `preset`, …) parsed exactly as on the command line, over the flags
 * `given` on the command line, then resolved as runFlags does (a row's preset applies to what
 * neither the row nor the command line gives). An unknown column or a bad value is an InputError naming it.
 */
export function parseRunFlags(given: Partial<Settings>, columns: Record<string, string>): RunFlags {
  const args = Object.entries(columns)
    .filter(([, value]) => value.trim() !== '')
    .flatMap(([name, value]) => columnArgs(name, value));
  const command = addRunOptions(new Command('job'))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .allowExcessArguments(false);
  try {
    command.parse(args, { from: 'user' });
  } catch (error) {
    throw new InputError((error as Error).message.replace(/^error: /, ''));
  }
  return runFlags({ ...given, ...givenFlags(command) });
}

const SWITCHES = new Map(
  SETTING_NAMES.filter((n) => SETTINGS[n].flag.arg === '').map((n) => [SETTINGS[n].flag.name, SETTINGS[n]]),
);

/** A manifest cell as command-line arguments: `--name=value`, or a switch's `--name` when yes. */
function columnArgs(name: string, value: string): string[] {
  const spec = SWITCHES.get(name) as Setting<unknown> | undefined;
  if (!spec) return [`--${name}=${value}`]; // '=': a value may start with a dash
  const on = spec.parse(value);
  if (on === undefined) throw new InputError(named(name, 'must be yes or no'));
  return on ? [`--${name}`] : [];
}

/**
 * The flags of a resumed run: every setting that shapes the result and is not given on the
 * command line (nor set by a preset given there) comes from the checkpoint (given ones are kept;
 * the library refuses a resume whose settings differ).
 */
export function flagsFromCheckpoint<F extends RunFlags>(
  flags: F,
  checkpoint: Checkpoint,
  given: (name: SettingName) => boolean,
): F {
  const merged: Record<string, unknown> = { ...flags };
  const preset = given('preset') ? presetValues(flags.preset) : {};
  for (const name of SHAPING_NAMES) {
    if (given(name) || name in preset || !(name in checkpoint.settings)) continue;
    const value = checkpoint.settings[name as keyof Checkpoint['settings']];
    if (name === 'init' && value === 'image') {
      throw new InputError("the checkpoint's run started from an image file: give the same --init FILE");
    }
    if ((name === 'styleMasks' || name === 'mask') && value !== undefined && value !== null) {
      const flag = SETTINGS[name].flag;
      throw new InputError(
        `the checkpoint's run had masks: give the same --${flag.name} ${flag.arg.replace(/[<>]/g, '')}`,
      );
    }
    merged[name] = value ?? undefined;
  }
  return merged as F;
}
