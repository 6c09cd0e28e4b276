/**
 * A queue job: what it carries (one stylize job's files and settings), what it reports while it
 * runs and what it returns; how BullMQ retries it; where its run state is kept between workers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Job, JobResult } from '../jobs/job.js';

/** A job's data: a stylize job with absolute paths (as every worker sees the shared storage). */
export type QueueJobData = Required<Omit<Job, 'frame'>>;

/** What a running job reports into the queue, at most once a second. */
export interface QueueProgress {
  /** Over all scales: the iteration and the iterations in all. */
  iteration: number;
  iterations: number;
  /** The scale (1-based) of how many, and its size in pixels. */
  scale: number;
  scales: number;
  size: number;
  bestCost: number;
  /** Seconds left (a bound: a run may converge sooner); null until measured. */
  etaSeconds: number | null;
  /** Where this attempt started: the iteration of the checkpoint it resumed, or null. */
  resumedFrom: number | null;
}

/** What a completed job returns: the job's result, where this attempt started, and its seconds. */
export interface QueueResult extends Omit<JobResult, 'elapsedMs' | 'interrupted'> {
  /** The iteration (over all scales) of the checkpoint this attempt resumed, or null if it ran from the start. */
  resumedFrom: number | null;
  /** Seconds of this attempt. */
  seconds: number;
}

/** A job whose worker is lost is taken up again this many times before it fails (a machine may be lost more than once). */
export const MAX_STALLED = 3;

/**
 * A failure's reason as the queue keeps it, in our words where BullMQ's own are cryptic: a child
 * process that died (killed for memory, most often) or a job whose workers kept being lost.
 */
export function failureReason(text: string): string {
  const exit = /^Unexpected exit code: (\S+) signal: (\S+)/.exec(text);
  if (exit) {
    const how = exit[2] !== 'null' ? `was killed (${exit[2]})` : `exited with code ${exit[1]}`;
    return `the process running the job ${how}: out of memory? (${text})`;
  }
  if (/stalled more than allowable limit/.test(text)) return `its worker was lost ${MAX_STALLED + 1} times (${text})`;
  return text;
}

/** How jobs are kept and retried: failures of the machine get three tries, 10 s, 20 s apart. */
export const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 10_000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
} as const;

/** The job's run state beside its output, on the storage every worker shares: `.out.png.nst-checkpoint`. */
export function checkpointPath(output: string): string {
  return path.join(path.dirname(output), `.${path.basename(output)}.nst-checkpoint`);
}

/**
 * Removes what a lost worker was writing for this job: the hidden temporary files of an atomic
 * write (io/atomic.ts) of its output, its checkpoint or a snapshot (`out_000100.png`). Only the
 * job's worker writes those names.
 */
export function removeStaleTemporaries(output: string): void {
  const dir = path.dirname(output);
  const ext = path.extname(output);
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const written = [
    escape(path.basename(output)),
    escape(path.basename(checkpointPath(output))),
    `${escape(path.basename(output, ext))}_\\d{6,}${escape(ext)}`,
  ];
  const temporary = new RegExp(`^\\.(${written.join('|')})\\.tmp-\\d+-\\d+$`);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) if (temporary.test(entry)) fs.rmSync(path.join(dir, entry), { force: true });
}
