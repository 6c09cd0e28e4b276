/**
 * The queue as its users see it: jobs submitted, waited for, and counted. Workers are worker.ts.
 */
import { Queue, QueueEvents } from 'bullmq';
import { connectionOf, type QueueAddress } from './address.js';
import { failureReason, JOB_OPTIONS, type QueueJobData, type QueueProgress, type QueueResult } from './jobs.js';

/** How a job ended, as `waitForJobs` reports it. */
export type JobOutcome = { id: string; ok: true; result: QueueResult } | { id: string; ok: false; reason: string };

/** A running job as `queueStatus` reports it. */
export interface RunningJob {
  id: string;
  data: QueueJobData;
  /** Its last report; null before the first. */
  progress: QueueProgress | null;
  attempt: number;
}

export interface QueueStatus {
  counts: { waiting: number; active: number; delayed: number; completed: number; failed: number };
  running: RunningJob[];
  /** The most recent failures (at most 10), with their reasons. */
  failed: { id: string; data: QueueJobData; reason: string }[];
}

// Commands that are not blocking keep ioredis's retries: a lost server fails them instead of hanging.
const open = (address: QueueAddress) =>
  new Queue<QueueJobData, QueueResult>(address.queue, { connection: { url: address.redis } });

/** Adds the jobs (in one round trip) and returns their ids, in order (a job already queued for the same output: its id). */
export async function submitJobs(address: QueueAddress, jobs: readonly QueueJobData[]): Promise<string[]> {
  const queue = open(address);
  try {
    // One job per output while it waits or runs: submitting a batch again does not run it twice.
    const opts = (data: QueueJobData) => ({ ...JOB_OPTIONS, deduplication: { id: data.output } });
    const added = await queue.addBulk(jobs.map((data) => ({ name: 'stylize', data, opts: opts(data) })));
    return added.map((job) => job.id!);
  } finally {
    await queue.close();
  }
}

/** Waits until every job has completed or finally failed; `onEnd` hears each as it ends. */
export async function waitForJobs(
  address: QueueAddress,
  ids: readonly string[],
  onEnd: (outcome: JobOutcome) => void = () => {},
): Promise<JobOutcome[]> {
  const queue = open(address);
  const events = new QueueEvents(address.queue, { connection: connectionOf(address) });
  try {
    return await Promise.all(
      ids.map(async (id): Promise<JobOutcome> => {
        const job = await queue.getJob(id);
        if (!job) return { id, ok: false, reason: 'not in the queue (removed?)' };
        const outcome: JobOutcome = await job.waitUntilFinished(events).then(
          (result: QueueResult) => ({ id, ok: true, result }),
          (error: Error) => ({ id, ok: false, reason: failureReason(error.message) }),
        );
        onEnd(outcome);
        return outcome;
      }),
    );
  } finally {
    await events.close();
    await queue.close();
  }
}

/** The queue's counts, its running jobs with their progress, and its latest failures. */
export async function queueStatus(address: QueueAddress): Promise<QueueStatus> {
  const queue = open(address);
  try {
    const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    const counts = {
      waiting: (c['waiting'] ?? 0) + (c['prioritized'] ?? 0),
      active: c['active'] ?? 0,
      delayed: c['delayed'] ?? 0,
      completed: c['completed'] ?? 0,
      failed: c['failed'] ?? 0,
    };
    const running = (await queue.getJobs(['active'])).map((job) => ({
      id: job.id!,
      data: job.data,
      progress: typeof job.progress === 'object' ? (job.progress as QueueProgress) : null,
      attempt: job.attemptsMade + 1,
    }));
    const failed = (await queue.getJobs(['failed'], 0, 9)).map((job) => ({
      id: job.id!,
      data: job.data,
      reason: failureReason(job.failedReason),
    }));
    return { counts, running, failed };
  } finally {
    await queue.close();
  }
}
