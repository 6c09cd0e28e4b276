/**
 * The `nst` command: its flags (from the settings table), help and usage errors. It loads nothing
 * heavy: each action imports its own module (commands.ts, weights.ts) when it runs.
 */
import * as fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { SETTINGS, type SettingName } from '../core/settings.js';
import { InputError, named } from '../errors.js';
import { removeTemporaryFiles } from '../io/atomic.js';
import { IMAGE_EXTENSIONS } from '../io/header.js';
import { STDOUT_FORMATS } from './stdout.js';
import type { BatchFlags, StylizeFlags } from './commands.js';
import type { VideoFlags } from './video.js';
import { VIDEO_SETTINGS, videoSettings } from '../core/video-settings.js';
import { VIDEO_EXTENSIONS } from '../io/video.js';
import {
  addPlanOptions,
  addProcessOptions,
  addRunOptions,
  addVideoOptions,
  DEFAULT_CHECKPOINT_EVERY,
  givenFlags,
  givenOn,
  givenVideoFlags,
  runFlags,
} from './flags.js';
import { addQueueCommand } from './queue-options.js';

const EXAMPLES = `
Examples:
  $ nst stylize photo.jpg painting.jpg -o out.png
  $ nst stylize photo.jpg painting.jpg -o out.jpg --size 256 --iterations 300 --step 50
  $ nst batch --content photos/ --style paintings/ --out-dir out/
  $ nst video clip.mp4 painting.jpg -o out.mp4 --size 256
  $ nst queue submit --content photos/ --style paintings/ --out-dir /shared/out --redis redis://host:6379
  $ nst weights fetch            # download the VGG19 weights once, into the cache
  $ nst weights verify vgg19.h5  # check a weights file`;

const STYLIZE_EXAMPLES = `
Examples:
  $ nst stylize tubingen.jpg starry_night.jpg -o out.png
  $ nst stylize tubingen.jpg starry_night.jpg -o first-look.png --preset draft
  $ nst stylize tubingen.jpg starry_night.jpg -o seed.png --preset seed
  $ nst stylize tubingen.jpg starry_night.jpg -o small.png --size 128 --iterations 50
  $ nst stylize photo.jpg style.jpg -o out.jpg --alpha 1e3 --step 100 --quiet
  $ nst stylize photo.jpg style.jpg -o out.png --optimizer lbfgs --scales 3 --iterations 500
  $ nst stylize photo.jpg style.jpg -o out.png --init noise --seed 42
  $ nst stylize photo.jpg style.jpg -o out.png --preserve-colors luminance
  $ nst stylize photo.jpg a.jpg b.jpg -o out.png --style-weights 0.7,0.3 --style-scale 1.5
  $ nst stylize photo.jpg style.jpg -o out.png --save-every 100 --checkpoint run.ckpt
  $ nst stylize photo.jpg style.jpg -o out.png --resume run.ckpt
  $ nst stylize photo.jpg style.jpg -o out.png --json | jq -c 'select(.event == "progress")'
  $ nst stylize photo.jpg style.jpg -o out.png --preview --plot curve.svg

The output format follows the extension: ${IMAGE_EXTENSIONS.join(', ')}.
Ctrl-C stops between iterations and still writes the best image so far.`;

const BATCH_EXAMPLES = `
Examples:
  $ nst batch --content photos/ --style paintings/ --out-dir out/ --size 256
  $ nst batch --content 'photos/*.jpg' --style starry.jpg --style scream.jpg --name '{content}_{style}.jpg'
  $ nst batch --manifest jobs.csv --out-dir out/ --skip-existing
  $ nst batch --content photos/ --style paintings/ --out-dir out/ --json > events.ndjson

Manifest (CSV with a header, or a JSON array of objects): content, style (several joined by ;),
output (optional, in --out-dir), and any run flag by its long name as a per-job option:
  content,style,output,alpha,style-scale
  photos/a.jpg,paintings/starry.jpg,a-starry.png,1e3,1.5`;

const VIDEO_EXAMPLES = `
Examples:
  $ nst video clip.mp4 starry_night.jpg -o clip-starry.mp4 --size 256
  $ nst video clip.mp4 starry_night.jpg -o frames/ --temporal-weight 0
  $ nst video frames/ the_scream.jpg -o out.webm --fps 12 --frame-iterations 60

Needs ffmpeg and ffprobe on the PATH. Finished frames are kept as they are made: Ctrl-C writes the
frames done so far, and the same command again goes on at the first missing frame.`;

/** Hints the command adds to the library's messages about a setting: what to do, by flag. */
const HINTS: Partial<Record<string, string>> = {
  maxInputPixels: 'raise it with --max-input-pixels',
  weights: 'given by --weights',
};

/**
 * An error's message for people: a bad setting is named by its flag ("lbfgs-history must be a
 * positive integer"), a run too big for the memory says which --size fits.
 */
export function wordError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (!(error instanceof InputError)) return error.message;
  const { setting, problem } = error.detail;
  if (error.name === 'MemoryError' && 'largest' in error) {
    const largest = error.largest as number;
    const advice = largest > 0 ? `the largest --size that fits is ${largest}` : 'no --size fits';
    return `${error.message.replace(/; (the largest size that fits is \d+|no size fits)$/, '')}; ${advice} (or pass --no-memory-check)`;
  }
  if (setting && problem) return named(flagName(setting) ?? setting, problem);
  const hint = setting ? HINTS[setting] : undefined;
  const text = asFlags(error.message, error.detail.names ?? []);
  return hint ? `${text} (${hint})` : text;
}

/** The settings a library message names (`styleScale 2 × size 512`), respelled as flags (`--style-scale 2 × --size 512`). */
/** A setting's flag name, from either settings table (undefined: not a setting). */
function flagName(setting: string): string | undefined {
  if (setting in SETTINGS) return SETTINGS[setting as SettingName].flag.name;
  if (setting in VIDEO_SETTINGS) return VIDEO_SETTINGS[setting as keyof typeof VIDEO_SETTINGS].flag.name;
  return undefined;
}

function asFlags(message: string, names: readonly string[]): string {
  return names.reduce((text, name) => {
    const known = flagName(name);
    const flag = known ? `--${known}` : name;
    return text.replace(new RegExp(`(?<![\\w-])${name}(?![\\w-])`), flag);
  }, message);
}

/** The package's version, from its package.json (dist/src/cli/ is three folders below it). */
function packageVersion(): string {
  const manifest = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** A usage error of commander as one line: its "(Did you mean …?)" hint joins the message. */
export function usageLine(text: string): string {
  const folded = text
    .replace(/^error: /, '')
    .trim()
    .replace(/\s*\n\s*\(Did you mean ([^)]*)\)/, ' (did you mean $1)');
  return `nst: ${folded.replace(/\s*\n\s*/g, ' ')}\n`;
}

/** Builds the command tree; each action stores its exit code in `result`. */
function buildProgram(result: { code: number }): Command {
  const program = new Command('nst')
    .description(
      'Neural style transfer (Gatys et al.): repaint a photo in the style of a painting, with VGG19 on ONNX Runtime',
    )
    .version(packageVersion(), '-V, --version', 'print the version of nst')
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    // Usage errors are one line, in the same form as every other error.
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) });

  const stylize = program
    .command('stylize')
    .description('optimise an image that keeps the content of <content> and the style of <style>')
    .argument('<content>', 'content image (the photo); - reads standard input')
    .argument(
      '<styles...>',
      'style image(s) (the paintings); several are blended by --style-weights; - reads standard input',
    )
    .requiredOption('-o, --output <file>', `output image (${IMAGE_EXTENSIONS.join(', ')}), or - for standard output`)
    .addOption(
      new Option('--format <kind>', 'with -o -: the format written to standard output (default png)').choices(
        STDOUT_FORMATS,
      ),
    );
  addRunOptions(stylize)
    .option(
      '--checkpoint <file>',
      `save the whole run state every --save-every (else ${DEFAULT_CHECKPOINT_EVERY}) iterations and at Ctrl-C`,
    )
    .option('--resume <file>', 'continue the run saved in a checkpoint (its settings apply unless given)')
    .option('--plot <file>', 'write the cost curve (.svg or .png) at the end of the run, and at Ctrl-C');
  addPreviewOptions(stylize);
  addProcessOptions(stylize)
    .addHelpText('after', STYLIZE_EXAMPLES)
    .action(async (content: string, styles: string[], opts: Record<string, unknown>, command: Command) => {
      const { stylizeCommand } = await import('./commands.js');
      const flags = { ...opts, ...runFlags(givenFlags(command)) } as StylizeFlags;
      result.code = await stylizeCommand(content, styles, flags, givenOn(command));
    });

  const batch = addPlanOptions(
    program
      .command('batch')
      .description(
        'stylize many images: every content with every style, or the jobs of a manifest; the model is loaded once',
      ),
  )
    .option('--skip-existing', 'skip jobs whose output exists')
    .option('--force', 'overwrite outputs that exist (otherwise such a job fails)')
    .option('--fail-fast', 'stop at the first failed job (default: go on and report at the end)')
    .option('--continue-on-error', 'go on after a failed job (the default)')
    .option(
      '--shard <I/N|auto>',
      "run only shard I of N of the planned jobs (every N-th from the I-th): one run per shard runs each job once; auto: the job array's index (JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)",
    )
    .option('--shards <n>', 'with --shard auto: the number of shards');
  addRunOptions(batch).option(
    '--contact-sheet <file>',
    'after the batch, one image with every result in a grid of contents × styles, labelled',
  );
  addPreviewOptions(batch);
  addProcessOptions(batch)
    .addHelpText('after', BATCH_EXAMPLES)
    .action(async (opts: Record<string, unknown>, command: Command) => {
      const { batchCommand } = await import('./commands.js');
      const given = givenFlags(command);
      result.code = await batchCommand({ ...opts, ...runFlags(given), given } as BatchFlags);
    });

  const video = program
    .command('video')
    .description(
      'stylise a video frame by frame without flicker: each frame starts from the previous result carried by the optical flow, held to it by a temporal cost',
    )
    .argument('<input>', 'a video file (anything ffmpeg reads) or a folder of frames (image files, in name order)')
    .argument('<styles...>', 'style image(s), blended by --style-weights')
    .requiredOption(
      '-o, --output <path>',
      `output video (${VIDEO_EXTENSIONS.join(', ')}; the input's frame rate and audio) or a folder for PNG frames (ending in /)`,
    );
  addVideoOptions(addRunOptions(video));
  addPreviewOptions(video);
  addProcessOptions(video)
    .addHelpText('after', VIDEO_EXAMPLES)
    .action(async (input: string, styles: string[], opts: Record<string, unknown>, command: Command) => {
      const { videoCommand } = await import('./video.js');
      const flags = { ...opts, ...runFlags(givenFlags(command)), ...videoSettings(givenVideoFlags(command)) };
      result.code = await videoCommand(input, styles, flags as VideoFlags);
    });

  addQueueCommand(program, result);

  const weights = program.command('weights').description('find, download or check the VGG19 weights');
  weights
    .command('path')
    .description('print where the weights are read from (or would be downloaded to)')
    .option('--weights <file>', 'an explicit weights file')
    .action(async (flags: { weights?: string }) => {
      const { weightsCommand } = await import('./weights.js');
      result.code = await weightsCommand('path', { weights: flags.weights });
    });
  weights
    .command('fetch')
    .description('download the official Keras VGG19 weights into the cache (checked by md5)')
    .option('--url <url>', 'download from this address instead')
    .option('--md5 <hash>', 'expected md5 of the file from --url')
    .option('-q, --quiet', 'no progress bar')
    .action(async (flags: { url?: string; md5?: string; quiet?: boolean }) => {
      const { weightsCommand } = await import('./weights.js');
      result.code = await weightsCommand('fetch', flags);
    });
  weights
    .command('verify')
    .description('check that FILE is a complete VGG19 weights file')
    .argument('<file>', 'weights file (Keras HDF5)')
    .action(async (file: string) => {
      const { weightsCommand } = await import('./weights.js');
      result.code = await weightsCommand('verify', { file });
    });
  return program;
}

/** The flags of the live preview page (cli/view). */
function addPreviewOptions(command: Command): Command {
  return command
    .option(
      '--preview [host:port]',
      'serve a live page of the run (image, cost curve, Stop button); default 127.0.0.1 and a free port',
    )
    .option('--preview-public', 'allow --preview on an address other machines can reach (a warning is printed)');
}

/** Runs the command line; returns the exit code (0 done, 2 bad usage or input, 1 other failure). */
export async function main(argv: string[]): Promise<number> {
  // However the process ends (process.exit included), no temporary file is left behind.
  process.on('exit', removeTemporaryFiles);
  const result = { code: 0 };
  const program = buildProgram(result);
  try {
    await program.parseAsync(argv);
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message (or the help).
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0
        ? 0
        : 2;
    }
    process.stderr.write(`nst: ${wordError(error)}\n`);
    return error instanceof InputError ? 2 : 1;
  }
}
