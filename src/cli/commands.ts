/**
 * The actions of `nst stylize` and `nst batch`: everything that needs an engine. main.ts loads
 * this module only when one of them runs, so that `--help` and usage errors answer at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { disposeCheckpoint, loadCheckpoint } from '../core/checkpoint.js';
import type { SettingName, Settings } from '../core/settings.js';
import type { StylizeProgress, TileProgress } from '../core/stylize.js';
import type { Engine } from '../engine/evaluator.js';
import { createEngine } from '../engine/factory.js';
import { InputError } from '../errors.js';
import { checkWritable } from '../io/images.js';
import { cachedWeightsPath, ensureWeights, locateWeights } from '../io/weights.js';
import { NonFiniteCostError, type StopReason } from '../optim/types.js';
import { outputTarget, STDOUT, type OutputTarget } from './stdout.js';
import { checkSharedFlags, planChecked, type PlanFlags } from './plan.js';
import { resolveShard, shardJobs, type Shard } from './batch.js';
import { formatSeconds, TimeLeft } from '../jobs/eta.js';
import { writeContactSheet, type SheetJob } from './view/sheet.js';
import { checkViewFlags, RunView, type ViewFlags } from './view/watch.js';
import { Events, type ErrorCode } from '../jobs/events.js';
import { DEFAULT_CHECKPOINT_EVERY, flagsFromCheckpoint, type ProcessFlags, type RunFlags } from './flags.js';
import { checkJob, jobFiles, readJobPipes, runJob, type Job, type JobContext } from '../jobs/job.js';
import { refuseOverwrites, type Role } from '../jobs/overwrite.js';
import { clearBar, costLines, costWriter, NO_BAR, progressBar, sayer, trapSignals, type Bar } from './terminal.js';

export interface StylizeFlags extends RunFlags, ProcessFlags, ViewFlags {
  /** A file, or `-`: standard output, in `format`. */
  output: string;
  format?: string;
  checkpoint?: string;
  resume?: string;
}

export interface BatchFlags extends PlanFlags, ProcessFlags, ViewFlags {
  contactSheet?: string;
  skipExisting?: boolean;
  force?: boolean;
  failFast?: boolean;
  /** `I/N` or `auto` (with `shards`): run only that shard of the planned jobs. */
  shard?: string;
  shards?: string;
}

/** The `code` of an error event. */
export function errorCode(error: unknown): ErrorCode {
  if (error instanceof InputError) return 'input';
  return error instanceof NonFiniteCostError ? 'nonfinite' : 'failure';
}

/** The JSON events of --json go to stdout. */
const toStdout = (line: string) => void process.stdout.write(line);

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The engine the flags ask for. It reads the weights only when a run starts: from the file
 * found now, or from the cache, where `fetchWeights` downloads them once the job is checked.
 */
export async function startEngine(flags: ProcessFlags): Promise<Engine> {
  const weights = locateWeights(flags.weights)?.path ?? cachedWeightsPath();
  return createEngine({ engine: flags.backend, device: flags.device, threads: flags.threads, weights });
}

/** The weights file, as a file the run reads (none yet when they are to be downloaded). */
export function weightsRead(flags: ProcessFlags): Role[] {
  const found = locateWeights(flags.weights);
  return found ? [{ what: 'weights file', file: found.path }] : [];
}

/** The weights, downloaded (saying so) when they are not there yet. */
export async function fetchWeights(flags: ProcessFlags, say: (line: string) => void): Promise<void> {
  await ensureWeights({ explicit: flags.weights, log: say });
}

/** The progress bar of one stylize run: iterations over all scales, the scale, costs, evaluations. */
function stylizeBar(flags: StylizeFlags, counts: readonly number[]): Bar {
  const scaled = counts.length > 1 ? ' | scale {scale}' : '';
  const format = ` {bar} {value}/{total}${scaled} | cost {cost} | best {best} | evals {evals} | left {left}`;
  return progressBar(
    flags,
    format,
    counts.reduce((a, b) => a + b, 0),
  );
}

/** Why a run ended, as the done line says it. */
const ENDINGS: Record<StopReason, string> = {
  iterations: 'all iterations done',
  converged: 'converged (the cost stopped falling)',
  stalled: 'stalled (no step lowered the cost)',
  interrupted: 'interrupted',
};

const barPayload = (e: StylizeProgress) => ({
  cost: e.costs.total.toExponential(4),
  best: e.bestCost.toExponential(4),
  evals: e.run.evaluations,
  scale: `${e.scale.index}/${e.scale.count} (${e.scale.size} px${e.scale.tiles > 1 ? `, ${e.scale.tiles} tiles` : ''})`,
});

export async function stylizeCommand(
  content: string,
  styles: string[],
  cliFlags: StylizeFlags,
  given: (name: SettingName) => boolean,
): Promise<number> {
  const events = new Events(Boolean(cliFlags.json), toStdout);
  const say = sayer(cliFlags);
  const signals = trapSignals(); // from the start: a signal before the run exits at once
  let engine: Engine | null = null;
  let view: RunView | null = null;
  let target: OutputTarget | null = null;
  let ending = 'failed';
  try {
    checkViewFlags(cliFlags);
    target = outputTarget(cliFlags);
    await readJobPipes({ content, styles, output: target.file, flags: cliFlags }); // once, before any check
    // The engine first: a checkpoint's tensors are made on it.
    engine = await startEngine(cliFlags);
    const resume = cliFlags.resume ? await loadCheckpoint(cliFlags.resume) : undefined;
    try {
      const flags = { ...(resume ? flagsFromCheckpoint(cliFlags, resume, given) : cliFlags), output: target.file };
      const job: Job = { content, styles, output: flags.output, flags };
      const every = flags.snapshotEvery ?? DEFAULT_CHECKPOINT_EVERY;
      const checkpoint = { file: flags.checkpoint, every, resume, resumeFile: cliFlags.resume };
      const settings = checkJob(job, checkpoint, weightsRead(flags)); // before any work
      if (flags.plot) {
        checkWritable(flags.plot, 'plot');
        const files = jobFiles(job, settings, checkpoint);
        const plot = { what: 'plot', file: flags.plot };
        refuseOverwrites([...files.reads, ...weightsRead(flags)], [...files.writes, plot], files.snapshots);
      }
      const { iterations: counts, scales: sizes } = settings;
      await fetchWeights(flags, say);
      view = await RunView.open(flags, events, signals.interrupt);
      const shown = view;
      const context: JobContext = { engine, signal: signals.signal, events, memoryCheck: flags.memoryCheck };
      let bar = NO_BAR; // until the job starts
      let timeLeft: TimeLeft | null = null;
      const onStart = (work: number[]) => {
        timeLeft = new TimeLeft(work, counts);
        signals.running(true);
        say(engine!.info.description);
        if (resume)
          say(`resuming ${cliFlags.resume} at scale ${resume.scale + 1}, iteration ${resume.state.iteration}`);
        if (sizes.length > 1) say(`scales: ${sizes.join(', ')} px, iterations ${counts.join(', ')}`);
        const { info } = engine!;
        shown.startJob({
          index: null,
          content,
          styles,
          output: flags.output,
          engine: info.description,
          preset: flags.preset ?? null,
          settings,
        });
        bar = stylizeBar(flags, counts);
      };
      const toStdout = cliFlags.output === STDOUT;
      const lines = costLines(flags.reportEvery, costWriter(flags, toStdout));
      let last: StylizeProgress | null = null;
      const onProgress = (e: StylizeProgress) => {
        lines(e);
        const left = timeLeft!.update(e);
        bar.update(e.run.iteration, { ...barPayload(e), left: formatSeconds(left) });
        shown.progress(e, left);
        last = e;
      };
      // Between iterations of a tiled scale the bar says which tile the evaluation is at.
      const onTile = ({ scale, done, total }: TileProgress) => {
        const tiles = `${scale.size} px, tile ${done}/${total}`;
        if (last) bar.update(last.run.iteration, { scale: `${scale.index}/${scale.count} (${tiles})` });
        shown.tile({ scale, done, total });
      };
      try {
        const hooks = { onStart, onProgress, onTile, onPreview: view.onPreview };
        const result = await runJob(job, settings, context, hooks, checkpoint).finally(() =>
          shown.endJob(1, content, fs.existsSync(flags.output) ? flags.output : null),
        );
        bar.stop();
        await target.finish();
        const { width, height, iterations, evaluations, bestCost } = result;
        const output = toStdout ? 'standard output' : result.output;
        const counts = `${iterations} iterations (${evaluations} evaluations)`;
        ending = `${ENDINGS[result.reason]} after ${counts}, best cost ${bestCost}`;
        say(`wrote ${output} (${width}×${height}): ${ending}`);
        if (result.interrupted) {
          const next = flags.checkpoint ? `; continue with --resume ${flags.checkpoint}` : '';
          say(`interrupted: ${output} holds the best image so far${next}`);
        }
        return signals.code();
      } finally {
        bar.stop();
      }
    } finally {
      if (resume) disposeCheckpoint(resume);
    }
  } catch (error) {
    events.emit('error', { code: errorCode(error), message: message(error) });
    throw error;
  } finally {
    await view?.close(ending);
    signals.release();
    engine?.dispose();
    target?.dispose();
  }
}

interface Failure {
  job: number;
  content: string;
  styles: string[];
  output: string;
  code: ErrorCode;
  message: string;
}

/**
 * The jobs of a batch, planned and checked before any work: the shared flags, the output folder,
 * every job's settings and paths, and no output that is an input or another output of the batch.
 * A folder made for the outputs is removed again when the batch is refused.
 */
function planBatch(flags: BatchFlags): { jobs: Job[]; planned: number; shard: Shard | null } {
  checkSharedFlags(flags);
  checkViewFlags(flags);
  const shard = resolveShard(flags.shard, flags.shards, process.env);
  if (flags.contactSheet !== undefined && !/\.(png|jpe?g)$/i.test(flags.contactSheet))
    throw new InputError(`--contact-sheet ${flags.contactSheet}: must end in .png or .jpg`);
  if (flags.contactSheet !== undefined && shard)
    throw new InputError('--contact-sheet needs the whole batch in one run, not a --shard');
  const reads = weightsRead(flags);
  const sheet = (): Role[] => {
    if (flags.contactSheet === undefined) return [];
    checkWritable(flags.contactSheet, 'contact sheet'); // the folder exists now
    return [{ what: 'contact sheet', file: flags.contactSheet }];
  };
  const jobs = planChecked(flags, reads, sheet);
  return { jobs: shardJobs(jobs, shard), planned: jobs.length, shard };
}

export async function batchCommand(flags: BatchFlags): Promise<number> {
  const events = new Events(Boolean(flags.json), toStdout);
  const say = sayer(flags);
  const signals = trapSignals(); // from the start: a signal before the first job exits at once
  let jobs: Job[];
  let planned: number;
  let shard: Shard | null;
  let engine: Engine;
  try {
    ({ jobs, planned, shard } = planBatch(flags));
    for (const job of jobs) await readJobPipes(job);
    await fetchWeights(flags, say);
    engine = await startEngine(flags);
  } catch (error) {
    signals.release();
    events.emit('error', { code: errorCode(error), message: message(error) });
    throw error;
  }
  const count = `${jobs.length} job${jobs.length === 1 ? '' : 's'}`;
  say(`${engine.info.description}; ${shard ? `shard ${shard.index}/${shard.count}: ${count} of ${planned}` : count}`);
  events.emit('batch', { jobs: jobs.length, backend: engine.info.name, outDir: flags.outDir, planned, shard });
  signals.running(true); // from here the loop stops between jobs, and a job with its best image
  const context: JobContext = { engine, signal: signals.signal, events, memoryCheck: flags.memoryCheck };
  let view: RunView;
  try {
    view = await RunView.open(flags, events, signals.interrupt);
  } catch (error) {
    signals.release();
    engine.dispose();
    events.emit('error', { code: errorCode(error), message: message(error) });
    throw error;
  }
  const sheet: SheetJob[] = [];
  const bar = progressBar(
    flags,
    ' {bar} {value}/{total} jobs | job {job}: {iteration} | ETA {eta_formatted}',
    jobs.length,
  );
  const line = (text: string) => {
    clearBar(flags);
    say(text);
  };
  const summary = { done: 0, skipped: 0, failed: [] as Failure[] };
  try {
    for (const [i, job] of jobs.entries()) {
      if (signals.signal.aborted) break;
      const title = `[${job.index}/${jobs.length}] ${job.content} × ${job.styles.join(' + ')} → ${job.output}`;
      const fail = (code: ErrorCode, problem: string) => {
        summary.failed.push({
          job: job.index!,
          content: job.content,
          styles: job.styles,
          output: job.output,
          code,
          message: problem,
        });
        events.emit('error', { job: job.index, code, message: problem });
        line(`${title}: FAILED: ${problem}`);
      };
      if (fs.existsSync(job.output) && !flags.force) {
        if (flags.skipExisting) {
          summary.skipped++;
          events.emit('skipped', { job: job.index, output: job.output, reason: 'exists' });
          line(`${title}: skipped (exists)`);
          sheet.push({ content: job.content, styles: job.styles, output: job.output }); // its earlier result
          bar.update(i + 1, { job: job.index, iteration: '-' });
          continue;
        }
        fail('exists', `output ${job.output} exists (use --force to overwrite it or --skip-existing)`);
        sheet.push({ content: job.content, styles: job.styles, output: null });
        if (flags.failFast) break;
        continue;
      }
      let written: string | null = null;
      try {
        const settings = checkJob(job);
        let timeLeft: TimeLeft | null = null;
        const onStart = (work: number[]) => (timeLeft = new TimeLeft(work, settings.iterations));
        const write = costWriter(flags);
        const lines = costLines(
          job.flags.reportEvery,
          write && ((text) => write(`[${job.index}/${jobs.length}] ${text}`)),
        );
        const onProgress = (e: StylizeProgress) => {
          lines(e);
          bar.update(i, { job: job.index, iteration: `${e.iteration}/${e.iterations} at ${e.scale.size} px` });
          view.progress(e, timeLeft!.update(e));
        };
        const { info } = engine;
        const shown = { index: job.index!, content: job.content, styles: job.styles, output: job.output };
        view.startJob({ ...shown, engine: info.description, preset: job.flags.preset ?? null, settings }, jobs.length);
        const hooks = { onStart, onProgress, onTile: (e: TileProgress) => view.tile(e), onPreview: view.onPreview };
        const result = await runJob(job, settings, context, hooks);
        written = result.output;
        summary.done++;
        const how = result.interrupted ? 'interrupted, best so far written' : `done, ${ENDINGS[result.reason]},`;
        line(
          `${title}: ${how} in ${(result.elapsedMs / 1000).toFixed(1)} s, best cost ${result.bestCost.toExponential(4)}`,
        );
      } catch (error) {
        fail(errorCode(error), message(error));
        if (flags.failFast) break;
      } finally {
        sheet.push({ content: job.content, styles: job.styles, output: written });
        await view.endJob(job.index!, path.basename(job.output), written);
      }
      bar.update(i + 1, { job: job.index, iteration: '-' });
    }
    if (flags.contactSheet) {
      try {
        await writeContactSheet(flags.contactSheet, sheet);
        say(`contact sheet: ${flags.contactSheet}`);
      } catch (error) {
        process.stderr.write(`nst: warning: contact sheet ${flags.contactSheet}: ${message(error)}\n`);
      }
    }
  } finally {
    await view.close(signals.signal.aborted ? 'interrupted' : 'batch done');
    bar.stop();
    signals.release();
    engine.dispose();
  }
  return batchSummary(jobs, summary, events, say, signals.code());
}

/** The summary event and lines of a batch, and its exit code. */
function batchSummary(
  jobs: Job[],
  summary: { done: number; skipped: number; failed: Failure[] },
  events: Events,
  say: (line: string) => void,
  signalCode: number,
): number {
  const notRun = jobs.length - summary.done - summary.skipped - summary.failed.length;
  events.emit('summary', { jobs: jobs.length, ...summary, notRun });
  const counts = `${summary.done} done, ${summary.skipped} skipped, ${summary.failed.length} failed`;
  say(`batch: ${counts}${notRun ? `, ${notRun} not run` : ''}`);
  for (const f of summary.failed) say(`  failed [${f.job}] ${f.content} × ${f.styles.join(' + ')}: ${f.message}`);
  if (signalCode) return signalCode;
  if (summary.failed.length === 0) return 0;
  process.stderr.write(`nst: ${summary.failed.length} of ${jobs.length} job${jobs.length === 1 ? '' : 's'} failed\n`);
  return 1;
}
