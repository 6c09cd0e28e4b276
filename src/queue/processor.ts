/**
 * The processor of a queue worker's jobs, run by BullMQ in a child process of the worker (so that
 * the worker's own event loop stays free to renew the jobs' locks): one stylize job from files to
 * files, on an engine the child keeps between jobs. The run state is checkpointed beside the output,
 * so a job whose worker was lost resumes where that worker's last checkpoint left it.
 */
import * as fs from 'node:fs';
import { UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq';
import { disposeCheckpoint, loadCheckpoint } from '../core/checkpoint.js';
import { MemoryError } from '../core/memory.js';
import type { Checkpoint, StylizeProgress } from '../core/stylize.js';
import type { Engine } from '../engine/evaluator.js';
import { createEngine } from '../engine/factory.js';
import { InputError } from '../errors.js';
import { oneLine, removeTemporaryFiles } from '../io/atomic.js';
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
import { STOPPING, WORKER_ENV, type ChildOptions } from './worker-options.js';

// A child whose worker is gone (killed, its machine lost) stops at once: its jobs are taken up
// elsewhere from their checkpoints, and nothing it was writing is left behind.
process.on('disconnect', () => process.exit(1));
process.on('exit', removeTemporaryFiles);

/** SIGTERM or SIGINT: the worker is stopping; a running job saves its state and goes back to the queue. */
const stopping = new AbortController();
for (const name of ['SIGTERM', 'SIGINT'] as const) process.on(name, () => stopping.abort(STOPPING));

const options: ChildOptions = JSON.parse(process.env[WORKER_ENV] ?? '{}') as ChildOptions;
let engine: Promise<Engine> | null = null;

/** The child's engine, made at its first job and kept for the next (its style targets with it). */
function childEngine(): Promise<Engine> {
  const { backend, device, threads, weights } = options;
  engine ??= createEngine({ engine: backend, device, threads, weights });
  engine.catch(() => (engine = null)); // an engine that failed to start is tried again by the next job
  return engine;
}

/** The checkpoint of an earlier attempt, if it is there; one that is not a whole checkpoint is removed. */
async function earlierState(file: string): Promise<Checkpoint | undefined> {
  if (!fs.existsSync(file)) return undefined;
  try {
    return await loadCheckpoint(file);
  } catch (error) {
    if (!(error instanceof InputError)) throw error; // unreadable now (storage): the retry reads it again
    fs.rmSync(file, { force: true });
    return undefined;
  }
}

/** The iteration over all scales where a checkpoint stands. */
const iterationOf = (resume: Checkpoint) =>
  resume.settings.iterations.slice(0, resume.scale).reduce((a, b) => a + b, 0) + resume.state.iteration;

/** Aborted by the worker's cancellation (its reason: STOPPING or LOCK_LOST) or by a signal to this child. */
function runSignal(cancel: AbortSignal | undefined): AbortSignal {
  const both = new AbortController();
  for (const signal of [cancel, stopping.signal]) {
    if (signal?.aborted) both.abort(signal.reason);
    signal?.addEventListener('abort', () => both.abort(signal.reason), { once: true });
  }
  return both.signal;
}

export default async function processJob(
  job: SandboxedJob<QueueJobData, QueueResult>,
  token?: string,
  cancel?: AbortSignal,
): Promise<QueueResult> {
  const data = job.data;
  const file = checkpointPath(data.output);
  removeStaleTemporaries(data.output);
  const signal = runSignal(cancel);
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
    if (!(resume && error instanceof InputError && error.message.startsWith('cannot resume')))
      throw failure(error, file);
    disposeCheckpoint(resume);
    resume = undefined;
    fs.rmSync(file, { force: true });
    result = await attempt(job, context, { file, every: options.checkpointEvery }).catch((e) => {
      throw failure(e, file);
    });
  } finally {
    if (resume) disposeCheckpoint(resume);
  }
  if (result.interrupted) {
    // The worker lost the job's lock: another worker has it now, and this one stops.
    if (signal.reason !== STOPPING) throw new Error(`stopped: ${String(signal.reason)}`);
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

/**
 * A failure as the queue keeps it, on one line: bad input or a non-finite cost fails at once (a
 * retry would do the same, so its checkpoint goes too); anything else is retried, a run too big
 * for the memory free now included (the machine may have more later, or another worker).
 */
function failure(error: unknown, checkpoint: string): Error {
  const message = oneLine(error);
  const final = (error instanceof InputError && !(error instanceof MemoryError)) || error instanceof NonFiniteCostError;
  if (!final) return new Error(message);
  fs.rmSync(checkpoint, { force: true });
  return new UnrecoverableError(message);
}
