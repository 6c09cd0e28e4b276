/**
 * The processor of a queue worker's jobs, run by BullMQ in a child process of the worker (so that
 * the worker's own event loop stays free to renew the jobs' locks): one stylize job from files to
 * files, on an engine the child keeps between jobs. The run state is checkpointed beside the output,
 * so a job whose worker was lost resumes where that worker's last checkpoint left it.
 */
import * as fs from 'node:fs';
import { UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq';
import { disposeCheckpoint, loadCheckpoint } from '../core/checkpoint.js';
import type { Checkpoint, StylizeProgress } from '../core/stylize.js';
import type { Engine } from '../engine/evaluator.js';
import { createEngine } from '../engine/factory.js';
import { InputError } from '../errors.js';
import { removeTemporaryFiles } from '../io/atomic.js';
import { TimeLeft } from '../jobs/eta.js';
import { Events } from '../jobs/events.js';
import { checkJob, runJob, type JobCheckpoint, type JobContext, type JobResult } from '../jobs/job.js';
import { NonFiniteCostError } from '../optim/types.js';
import {
  checkpointPath,
  removeStaleTemporaries,
  type QueueJobData,
  type QueueProgress,
  type QueueResult,
} from './jobs.js';
import { WORKER_ENV, type ChildOptions } from './worker-options.js';

// A child whose worker is gone (killed, its machine lost) stops at once: its jobs are taken up
// elsewhere from their checkpoints, and nothing it was writing is left behind.
process.on('disconnect', () => process.exit(1));
process.on('exit', removeTemporaryFiles);

/** SIGTERM or SIGINT: the worker is stopping; a running job saves its state and goes back to the queue. */
const stopping = new AbortController();
for (const name of ['SIGTERM', 'SIGINT'] as const) process.on(name, () => stopping.abort());

const options: ChildOptions = JSON.parse(process.env[WORKER_ENV] ?? '{}') as ChildOptions;
let engine: Promise<Engine> | null = null;

/** The child's engine, made at its first job and kept for the next (its style targets with it). */
function childEngine(): Promise<Engine> {
  engine ??= createEngine({ engine: options.backend, threads: options.threads, weights: options.weights });
  return engine;
}

/** The checkpoint of an earlier attempt, if it is there and whole; one that cannot be read is removed. */
async function earlierState(file: string): Promise<Checkpoint | undefined> {
  if (!fs.existsSync(file)) return undefined;
  try {
    return await loadCheckpoint(file);
  } catch {
    fs.rmSync(file, { force: true });
    return undefined;
  }
}

/** The iteration over all scales where a checkpoint stands. */
const iterationOf = (resume: Checkpoint) =>
  resume.settings.iterations.slice(0, resume.scale).reduce((a, b) => a + b, 0) + resume.state.iteration;

export default async function processJob(
  job: SandboxedJob<QueueJobData, QueueResult>,
  token?: string,
  cancel?: AbortSignal,
): Promise<QueueResult> {
  const data = job.data;
  const file = checkpointPath(data.output);
  removeStaleTemporaries(data.output);
  const signal = cancel ? AbortSignal.any([cancel, stopping.signal]) : stopping.signal;
  const context: JobContext = {
    engine: await childEngine(),
    signal,
    events: new Events(false),
    memoryCheck: options.memoryCheck,
    writeInterrupted: false,
  };
  let resume = await earlierState(file);
  let result: JobResult;
  try {
    result = await attempt(job, context, { file, every: options.checkpointEvery, resume });
  } catch (error) {
    // A checkpoint of other settings or images (the output's name reused): start afresh.
    if (!(resume && error instanceof InputError && error.message.startsWith('cannot resume'))) throw failure(error);
    disposeCheckpoint(resume);
    resume = undefined;
    fs.rmSync(file, { force: true });
    result = await attempt(job, context, { file, every: options.checkpointEvery }).catch((e) => {
      throw failure(e);
    });
  } finally {
    if (resume) disposeCheckpoint(resume);
  }
  if (result.interrupted) {
    if (cancel?.aborted) throw new UnrecoverableError('cancelled');
    // The worker is stopping: the job waits for the next worker, which resumes the checkpoint.
    await job.moveToWait(token);
    throw new WaitingError();
  }
  fs.rmSync(file, { force: true });
  const { output, width, height, bestCost, iterations, evaluations, reason, elapsedMs } = result;
  const resumedFrom = resume ? iterationOf(resume) : null;
  return { output, width, height, bestCost, iterations, evaluations, reason, resumedFrom, seconds: elapsedMs / 1000 };
}

/** One run of the job, reporting its progress into the queue at most once a second. */
async function attempt(
  job: SandboxedJob<QueueJobData, QueueResult>,
  context: JobContext,
  checkpoint: JobCheckpoint,
): Promise<JobResult> {
  const settings = checkJob(job.data, checkpoint, [{ what: 'weights file', file: options.weights }]);
  const resumedFrom = checkpoint.resume ? iterationOf(checkpoint.resume) : null;
  let timeLeft: TimeLeft | null = null;
  let reported = 0;
  const onProgress = (e: StylizeProgress) => {
    const etaSeconds = timeLeft?.update(e) ?? null;
    if (Date.now() - reported < 1000 && !e.last) return;
    reported = Date.now();
    const { iteration, iterations } = e.run;
    const progress: QueueProgress = {
      iteration,
      iterations,
      scale: e.scale.index,
      scales: e.scale.count,
      size: e.scale.size,
      bestCost: e.bestCost,
      etaSeconds,
      resumedFrom,
    };
    job.updateProgress(progress).catch(() => {}); // a lost report is not a lost job
  };
  const onStart = (work: number[]) => (timeLeft = new TimeLeft(work, settings.iterations));
  return runJob(job.data, settings, context, { onStart, onProgress }, checkpoint);
}

/** A failure as the queue keeps it: bad input or a non-finite cost fails at once (a retry would do the same), anything else is retried. */
function failure(error: unknown): Error {
  if (error instanceof InputError || error instanceof NonFiniteCostError) return new UnrecoverableError(error.message);
  return error instanceof Error ? error : new Error(String(error));
}
