/**
 * A queue worker: takes jobs from the queue and runs each in a child process (processor.ts),
 * `concurrency` at a time. A job whose worker stops renewing its lock (killed, its machine lost)
 * is taken up by another worker after `lockSeconds`, and resumes from its checkpoint.
 */
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { connectionOf, type QueueAddress } from './address.js';
import { failureReason, MAX_STALLED, type QueueJobData, type QueueProgress, type QueueResult } from './jobs.js';
import { LOCK_LOST, STOPPING, WORKER_ENV, type ChildOptions } from './worker-options.js';

export interface WorkerOptions extends ChildOptions {
  /** Jobs run at once, each in its own child process. */
  concurrency: number;
  /** How long a job's lock lasts unrenewed before the job counts as stalled and goes to another worker. */
  lockSeconds: number;
}

/** What the worker's owner hears: each job as it starts, reports, ends. */
export interface WorkerListener {
  onActive?: (job: QueueJobData, id: string, attempt: number) => void;
  onProgress?: (job: QueueJobData, id: string, progress: QueueProgress) => void;
  onCompleted?: (job: QueueJobData, id: string, result: QueueResult) => void;
  /** `final`: no attempt is left (or the failure is one a retry would repeat). */
  onFailed?: (job: QueueJobData, id: string, reason: string, final: boolean) => void;
  /** A problem of the worker itself (Redis gone: it reconnects). */
  onError?: (message: string) => void;
}

/** Starts a worker; `close()` lets running jobs checkpoint and go back to the queue, then stops. */
export function startWorker(address: QueueAddress, options: WorkerOptions, listener: WorkerListener = {}) {
  const { concurrency, lockSeconds, ...child } = options;
  const processor = fileURLToPath(new URL('./processor.js', import.meta.url));
  const worker = new Worker<QueueJobData, QueueResult>(address.queue, processor, {
    connection: connectionOf(address),
    concurrency,
    lockDuration: lockSeconds * 1000,
    stalledInterval: lockSeconds * 1000,
    maxStalledCount: MAX_STALLED,
    useWorkerThreads: false,
    workerForkOptions: { env: { ...process.env, [WORKER_ENV]: JSON.stringify(child) } },
  });
  const id = (job: Job) => job.id ?? '?';
  worker.on('active', (job) => listener.onActive?.(job.data, id(job), job.attemptsMade + 1));
  worker.on('progress', (job, progress) => listener.onProgress?.(job.data, id(job), progress as QueueProgress));
  worker.on('completed', (job, result) => listener.onCompleted?.(job.data, id(job), result));
  worker.on('failed', (job, error) => {
    if (!job) return;
    const final = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    listener.onFailed?.(job.data, id(job), failureReason(error.message), final);
  });
  worker.on('error', (error) => listener.onError?.(error.message));
  // Renewal failed (Redis unreachable for longer than the lock): stop the run, it is not ours.
  worker.on('lockRenewalFailed', (ids) => ids.forEach((jobId) => worker.cancelJob(jobId, LOCK_LOST)));
  return {
    /** Resolves when the worker is connected and waiting for jobs. */
    ready: () => worker.waitUntilReady().then(() => undefined),
    /**
     * Stops taking jobs; each running job is cancelled, saves its checkpoint at the end of its
     * iteration and goes back to the queue for the next worker (its lock renewed until then).
     */
    close: () => {
      worker.cancelAllJobs(STOPPING);
      return worker.close();
    },
  };
}

export type QueueWorker = ReturnType<typeof startWorker>;
