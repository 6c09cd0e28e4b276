import * as fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import cliProgress from 'cli-progress';
import { describeBackend, selectBackend, type BackendInfo } from '../engine/tfjs/backend.js';
import { DEFAULT_NAME, planJobs } from './batch.js';
import { disposeCheckpoint, loadCheckpoint } from '../core/checkpoint.js';
import { checkStylizeOptions } from '../core/stylize.js';
import { InputError } from '../errors.js';
import { Events, type ErrorCode } from './events.js';
import {
  addProcessOptions,
  addRunOptions,
  flagsFromCheckpoint,
  runOptions,
  type ProcessFlags,
  type RunFlags,
} from './flags.js';
import { checkJob, DEFAULT_CHECKPOINT_EVERY, runJob, usageError, type Job, type JobContext } from './job.js';
import { disposeStyleCache } from '../nst.js';
import { NonFiniteCostError, type ProgressEvent } from '../optim/optimizer.js';
import { IMAGE_EXTENSIONS } from '../io/images.js';
import { ensureWeights, weightsCommand } from '../io/weights.js';

interface StylizeFlags extends RunFlags, ProcessFlags {
  output: string;
  checkpoint?: string;
  resume?: string;
}

interface BatchFlags extends RunFlags, ProcessFlags {
  content: string[];
  style: string[];
  manifest?: string;
  outDir: string;
  name: string;
  skipExisting?: boolean;
  force?: boolean;
  failFast?: boolean;
}

const EXAMPLES = `
Examples:
  $ nst stylize photo.jpg painting.jpg -o out.png
  $ nst stylize photo.jpg painting.jpg -o out.jpg --size 256 --iterations 300 --step 50
  $ nst batch --content photos/ --style paintings/ --out-dir out/
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
  $ nst stylize photo.jpg style.jpg -o out.png --json | jq -c 'select(.event == "progress")'

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

/** The `code` of an error event and the exit code of a failure. */
function errorCode(error: unknown): ErrorCode {
  return error instanceof InputError ? 'input' : error instanceof NonFiniteCostError ? 'nonfinite' : 'failure';
}
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Lines on stderr for a person: none with --quiet or --json. */
function sayer(flags: ProcessFlags): (line: string) => void {
  return (line) => {
    if (!flags.quiet && !flags.json) process.stderr.write(`${line}\n`);
  };
}

/** The seed's `--step` cost lines on stdout, unless stdout carries JSON events. */
function costLog(flags: ProcessFlags): ((line: string) => void) | undefined {
  if (flags.json) return undefined;
  return (line) => {
    if (!flags.quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // over the progress bar
    process.stdout.write(`${line}\n`);
  };
}

/**
 * SIGINT / SIGTERM abort the signal (the run ends between iterations with its best image); a
 * second one exits at once. `code()` is the exit code the signal asks for (0 if none came).
 */
function trapSignals(): { signal: AbortSignal; code: () => number; release: () => void } {
  const abort = new AbortController();
  let code = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const exit = signal === 'SIGINT' ? 130 : 143;
    if (abort.signal.aborted) process.exit(exit);
    code = exit;
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    code: () => code,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

interface Bar {
  update: (value: number, payload: object) => void;
  stop: () => void;
}
const NO_BAR: Bar = { update: () => {}, stop: () => {} };

/** A progress bar on stderr when it is a terminal and a person reads it. */
function progressBar(flags: ProcessFlags, format: string, total: number): Bar {
  if (flags.quiet || flags.json || !process.stderr.isTTY) return NO_BAR;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format, hideCursor: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, {});
  return { update: (value, payload) => bar.update(value, payload), stop: () => bar.stop() };
}

/** The iteration over all scales of a progress event, for a bar over the whole run. */
function overallIteration(counts: readonly number[], e: ProgressEvent): number {
  const k = (e.scale?.index ?? 1) - 1;
  return counts.slice(0, k).reduce((a, b) => a + b, 0) + e.iteration;
}

function newContext(
  backend: BackendInfo,
  weights: string,
  flags: ProcessFlags,
  signal: AbortSignal,
  events: Events,
): JobContext {
  return {
    backend,
    weights,
    models: new Map(),
    styleCache: new Map(),
    signal,
    events,
    memoryCheck: flags.memoryCheck,
    log: costLog(flags),
  };
}

function disposeContext(context: JobContext): void {
  for (const model of context.models.values()) model.dispose();
  disposeStyleCache(context.styleCache);
}

async function stylizeCommand(
  content: string,
  styles: string[],
  cliFlags: StylizeFlags,
  given: (flag: string) => boolean,
): Promise<number> {
  const events = new Events(Boolean(cliFlags.json));
  const say = sayer(cliFlags);
  try {
    // The backend first: a checkpoint's tensors are made on it.
    const backend = await selectBackend(cliFlags.backend, cliFlags.threads);
    const resume = cliFlags.resume ? await loadCheckpoint(cliFlags.resume) : undefined;
    try {
      const flags = resume ? flagsFromCheckpoint(cliFlags, resume, given) : cliFlags;
      const job: Job = { content, styles, output: flags.output, flags };
      const checkpoint = { file: flags.checkpoint, resume };
      const { iterations: counts, scales: sizes } = checkJob(job, checkpoint); // before any work
      const weights = await ensureWeights({ explicit: flags.weights, log: say });

      const signals = trapSignals();
      const context = newContext(backend, weights.path, flags, signals.signal, events);
      const scaled = sizes.length > 1 ? ' | scale {scale}' : '';
      let bar = NO_BAR; // until the job starts
      context.onStart = () => {
        say(describeBackend(backend));
        if (resume)
          say(`resuming ${cliFlags.resume} at scale ${resume.scale + 1}, iteration ${resume.state.iteration}`);
        if (sizes.length > 1) say(`scales: ${sizes.join(', ')} px, iterations ${counts.join(', ')}`);
        bar = progressBar(
          flags,
          ` {bar} {value}/{total}${scaled} | cost {cost} | best {best} | evals {evals} | ETA {eta_formatted}`,
          counts.reduce((a, b) => a + b, 0),
        );
      };
      context.onProgress = (e) =>
        bar.update(overallIteration(counts, e), {
          cost: e.costs.total.toExponential(4),
          best: e.bestCost.toExponential(4),
          evals: e.evaluations,
          scale: e.scale ? `${e.scale.index}/${e.scale.count} (${e.scale.size} px)` : '-',
        });
      try {
        const result = await runJob(job, context, checkpoint);
        bar.stop();
        say(
          `wrote ${result.output} (${result.width}×${result.height}) after ${result.evaluations} evaluations, best cost ${result.bestCost}`,
        );
        if (result.interrupted)
          say(
            `interrupted: ${result.output} holds the best image so far${flags.checkpoint ? `; continue with --resume ${flags.checkpoint}` : ''}`,
          );
        return signals.code();
      } finally {
        bar.stop();
        signals.release();
        disposeContext(context);
      }
    } finally {
      if (resume) disposeCheckpoint(resume);
    }
  } catch (error) {
    events.emit('error', { code: errorCode(error), message: message(error) });
    throw error;
  }
}

async function batchCommand(flags: BatchFlags): Promise<number> {
  const events = new Events(Boolean(flags.json));
  const say = sayer(flags);
  let jobs: Job[];
  try {
    // The shared flags and the plan are checked before any work.
    try {
      checkStylizeOptions(runOptions({ ...flags, styleWeights: undefined }), 1);
    } catch (error) {
      throw usageError(error);
    }
    if (flags.styleWeights)
      throw new InputError('--style-weights needs several styles in one job: give them in a manifest');
    fs.mkdirSync(flags.outDir, { recursive: true });
    jobs = planJobs({
      contents: flags.content,
      styles: flags.style,
      manifest: flags.manifest,
      outDir: flags.outDir,
      name: flags.name,
      flags,
    });
  } catch (error) {
    events.emit('error', { code: errorCode(error), message: message(error) });
    throw error;
  }
  const backend = await selectBackend(flags.backend, flags.threads);
  const weights = await ensureWeights({ explicit: flags.weights, log: say });
  say(`${describeBackend(backend)}; ${jobs.length} job${jobs.length === 1 ? '' : 's'}`);
  events.emit('batch', { jobs: jobs.length, backend: backend.name, outDir: flags.outDir });

  const signals = trapSignals();
  const context = newContext(backend, weights.path, flags, signals.signal, events);
  const bar = progressBar(
    flags,
    ' {bar} {value}/{total} jobs | job {job}: {iteration} | ETA {eta_formatted}',
    jobs.length,
  );
  const line = (text: string) => {
    if (!flags.quiet && !flags.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    say(text);
  };
  const summary = {
    done: 0,
    skipped: 0,
    failed: [] as {
      job: number;
      content: string;
      styles: string[];
      output: string;
      code: ErrorCode;
      message: string;
    }[],
  };
  try {
    for (const [i, job] of jobs.entries()) {
      if (signals.signal.aborted) break;
      const title = `[${job.index}/${jobs.length}] ${job.content} × ${job.styles.join(' + ')} → ${job.output}`;
      context.onProgress = (e) =>
        bar.update(i, {
          job: job.index,
          iteration: `${e.iteration}/${e.iterations}${e.scale ? ` at ${e.scale.size} px` : ''}`,
        });
      if (fs.existsSync(job.output) && !flags.force) {
        if (flags.skipExisting) {
          summary.skipped++;
          events.emit('skipped', { job: job.index, output: job.output, reason: 'exists' });
          line(`${title}: skipped (exists)`);
          bar.update(i + 1, { job: job.index, iteration: '-' });
          continue;
        }
        const problem = `output ${job.output} exists (use --force to overwrite it or --skip-existing)`;
        summary.failed.push({
          job: job.index!,
          content: job.content,
          styles: job.styles,
          output: job.output,
          code: 'exists',
          message: problem,
        });
        events.emit('error', { job: job.index, code: 'exists', message: problem });
        line(`${title}: FAILED: ${problem}`);
        if (flags.failFast) break;
        continue;
      }
      try {
        const result = await runJob(job, context);
        summary.done++;
        line(
          `${title}: ${result.interrupted ? 'interrupted, best so far written' : 'done'} in ${(result.elapsedMs / 1000).toFixed(1)} s, best cost ${result.bestCost.toExponential(4)}`,
        );
      } catch (error) {
        summary.failed.push({
          job: job.index!,
          content: job.content,
          styles: job.styles,
          output: job.output,
          code: errorCode(error),
          message: message(error),
        });
        events.emit('error', { job: job.index, code: errorCode(error), message: message(error) });
        line(`${title}: FAILED: ${message(error)}`);
        if (flags.failFast) break;
      }
      bar.update(i + 1, { job: job.index, iteration: '-' });
    }
  } finally {
    bar.stop();
    signals.release();
    disposeContext(context);
  }
  const notRun = jobs.length - summary.done - summary.skipped - summary.failed.length;
  events.emit('summary', {
    jobs: jobs.length,
    done: summary.done,
    skipped: summary.skipped,
    failed: summary.failed,
    notRun,
  });
  say(
    `batch: ${summary.done} done, ${summary.skipped} skipped, ${summary.failed.length} failed${notRun ? `, ${notRun} not run` : ''}`,
  );
  for (const f of summary.failed) say(`  failed [${f.job}] ${f.content} × ${f.styles.join(' + ')}: ${f.message}`);
  if (signals.code()) return signals.code();
  if (summary.failed.length === 0) return 0;
  process.stderr.write(`nst: ${summary.failed.length} of ${jobs.length} job${jobs.length === 1 ? '' : 's'} failed\n`);
  return 1;
}

/** Builds the command tree; each action stores its exit code in `result`. */
function buildProgram(result: { code: number }): Command {
  const program = new Command('nst')
    .description(
      'Neural style transfer (Gatys et al.): repaint a photo in the style of a painting, with VGG19 on TensorFlow.js',
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    // Usage errors are one line, in the same form as every other error.
    .configureOutput({ outputError: (text, write) => write(`nst: ${text.replace(/^error: /, '')}`) });

  const stylize = program
    .command('stylize')
    .description('optimise an image that keeps the content of <content> and the style of <style>')
    .argument('<content>', 'content image (the photo)')
    .argument('<styles...>', 'style image(s) (the paintings); several are blended by --style-weights')
    .requiredOption('-o, --output <file>', `output image (${IMAGE_EXTENSIONS.join(', ')})`);
  addRunOptions(stylize)
    .option(
      '--checkpoint <file>',
      `save the whole run state every --save-every (else ${DEFAULT_CHECKPOINT_EVERY}) iterations and at Ctrl-C`,
    )
    .option('--resume <file>', 'continue the run saved in a checkpoint (its settings apply unless given)');
  addProcessOptions(stylize)
    .addHelpText('after', STYLIZE_EXAMPLES)
    .action(async (content: string, styles: string[], flags: StylizeFlags, command: Command) => {
      result.code = await stylizeCommand(
        content,
        styles,
        flags,
        (flag) => command.getOptionValueSource(flag) === 'cli',
      );
    });

  const collect = (value: string, previous: string[]) => [...previous, value];
  const batch = program
    .command('batch')
    .description(
      'stylize many images: every content with every style, or the jobs of a manifest; the model is loaded once',
    )
    .option('--content <path>', 'content images: a file, a directory or a quoted glob (repeatable)', collect, [])
    .option('--style <path>', 'style images: a file, a directory or a quoted glob (repeatable)', collect, [])
    .option('--manifest <file>', 'the jobs as CSV or JSON: content, style, output and per-job options')
    .option('--out-dir <dir>', 'where the outputs go (created if missing)', '.')
    .option('--name <pattern>', 'output name: {content}, {style} (file names without extension), {index}', DEFAULT_NAME)
    .option('--skip-existing', 'skip jobs whose output exists')
    .option('--force', 'overwrite outputs that exist (otherwise such a job fails)')
    .option('--fail-fast', 'stop at the first failed job (default: go on and report at the end)')
    .option('--continue-on-error', 'go on after a failed job (the default)');
  addRunOptions(batch);
  addProcessOptions(batch)
    .addHelpText('after', BATCH_EXAMPLES)
    .action(async (flags: BatchFlags) => {
      result.code = await batchCommand(flags);
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
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0
        ? 0
        : 2;
    }
    process.stderr.write(`nst: ${message(error)}\n`);
    return error instanceof InputError ? 2 : 1;
  }
}
