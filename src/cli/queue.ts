/**
 * `nst queue submit | worker | status`: the batch's jobs through a BullMQ queue on the user's Redis,
 * run by workers on any machines that share the storage of the inputs and outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { ensureWeights, locateWeights } from '../io/weights.js';
import { formatSeconds } from '../jobs/eta.js';
import { Events, type EventName } from '../jobs/events.js';
import { withPaths, type Job } from '../jobs/job.js';
import { checkAddress, probeRedis, shownUrl, type QueueAddress } from '../queue/address.js';
import { queueStatus, submitJobs, waitForJobs, type JobOutcome, type QueueStatus } from '../queue/client.js';
import type { QueueJobData, QueueProgress } from '../queue/jobs.js';
import { startWorker } from '../queue/worker.js';
import { defaultThreads, type Device, type EngineName } from '../engine/evaluator.js';
import { checkDevice } from '../engine/factory.js';
import { checkSharedFlags, planChecked, type PlanFlags } from './plan.js';
import { sayer } from './terminal.js';

export interface QueueFlags {
  redis: string;
  queue: string;
  quiet?: boolean;
  json?: boolean;
}

export interface SubmitFlags extends QueueFlags, PlanFlags {
  skipExisting?: boolean;
  force?: boolean;
  wait?: boolean;
}

export interface WorkerFlags extends QueueFlags {
  concurrency: number;
  threads?: number;
  backend: EngineName;
  device: Device;
  weights?: string;
  memoryCheck: boolean;
  checkpointEvery: number;
  stallSeconds: number;
}

/** Connects once to say what is wrong at once (an unreachable server, an eviction policy that loses jobs). */
async function reach(flags: QueueFlags, say: (line: string) => void): Promise<QueueAddress> {
  const address = checkAddress(flags.redis, flags.queue);
  const info = await probeRedis(address);
  if (info.evictionPolicy !== null && info.evictionPolicy !== 'noeviction')
    say(
      `nst: warning: Redis's maxmemory-policy is ${info.evictionPolicy}: under memory pressure it may drop jobs (set it to noeviction)`,
    );
  return address;
}

/** With --json: one event a line on stdout, as `stylize` and `batch` write theirs (jobs/events.ts). */
const emit = (flags: QueueFlags, event: EventName, fields: object) =>
  new Events(Boolean(flags.json), (line) => void process.stdout.write(line)).emit(event, { ...fields });

const jobTitle = (job: { content: string; styles: string[]; output: string }) =>
  `${job.content} × ${job.styles.join(' + ')} → ${job.output}`;

/** Absolute paths: every worker reads and writes them on the storage they share. */
const queueData = (job: Job): QueueJobData => ({ ...withPaths(job, (file) => path.resolve(file)), index: job.index! });

export async function submitCommand(flags: SubmitFlags): Promise<number> {
  const say = sayer(flags);
  checkSharedFlags(flags);
  if (flags.skipExisting && flags.force) throw new InputError('give --skip-existing or --force, not both');
  const address = await reach(flags, say); // first: an unreachable server leaves no output folder made
  const planned = planChecked(flags, []);
  const existing = planned.filter((job) => fs.existsSync(job.output));
  if (existing.length > 0 && !flags.skipExisting && !flags.force)
    throw new InputError(
      `output ${existing[0]!.output} exists${existing.length > 1 ? ` (and ${existing.length - 1} more)` : ''} (use --force to overwrite or --skip-existing)`,
    );
  const jobs = flags.skipExisting ? planned.filter((job) => !existing.includes(job)) : planned;
  const ids = jobs.length > 0 ? await submitJobs(address, jobs.map(queueData)) : [];
  const skipped = planned.length - jobs.length;
  const where = `queue ${address.queue} at ${shownUrl(address.redis)}`;
  say(
    `submitted ${ids.length} job${ids.length === 1 ? '' : 's'} to ${where}${skipped ? ` (${skipped} skipped: exist)` : ''}`,
  );
  emit(flags, 'submitted', { queue: address.queue, ids });
  if (!flags.wait) return 0;
  const byId = new Map(ids.map((id, i) => [id, jobs[i]!]));
  const outcomes = await waitForJobs(address, ids, (outcome) => {
    const job = byId.get(outcome.id)!;
    emit(flags, 'ended', outcome);
    say(`[${outcome.id}] ${jobTitle(job)}: ${ending(outcome)}`);
  });
  const failed = outcomes.filter((o) => !o.ok).length;
  say(`queue: ${outcomes.length - failed} done, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

/** How a waited-for job ended, in words. */
function ending(outcome: JobOutcome): string {
  if (!outcome.ok) return `FAILED: ${outcome.reason}`;
  const { result } = outcome;
  const resumed = result.resumedFrom === null ? '' : `, resumed at iteration ${result.resumedFrom}`;
  return `done in ${result.seconds.toFixed(1)} s${resumed}, ${result.iterations} iterations, best cost ${result.bestCost.toExponential(4)}`;
}

export async function workerCommand(flags: WorkerFlags): Promise<number> {
  const say = sayer(flags);
  // A device that cannot start would fail every job: the worker refuses to start instead.
  await checkDevice(flags.backend, flags.device);
  const address = await reach(flags, say);
  await ensureWeights({ explicit: flags.weights, log: say });
  const weights = locateWeights(flags.weights)!.path;
  const threads = flags.threads ?? Math.max(1, Math.floor(defaultThreads() / flags.concurrency));
  const { concurrency, backend, device, memoryCheck, checkpointEvery, stallSeconds } = flags;
  const lockSeconds = stallSeconds;
  const options = { concurrency, backend, device, threads, weights, memoryCheck, checkpointEvery, lockSeconds };
  const line = (id: string, job: QueueJobData, text: string) => say(`[${id}] ${jobTitle(job)}: ${text}`);
  const json = (event: EventName, fields: object) => emit(flags, event, fields);
  const worker = startWorker(address, options, {
    onActive: (job, id, attempt) => {
      line(id, job, attempt > 1 ? `started (attempt ${attempt})` : 'started');
      json('active', { id, attempt, output: job.output });
    },
    onProgress: (_, id, progress) => json('progress', { id, ...progress }),
    onCompleted: (job, id, result) => {
      line(id, job, ending({ id, ok: true, result }));
      json('completed', { id, ...result });
    },
    onFailed: (job, id, reason, final) => {
      line(id, job, `${final ? 'FAILED' : 'failed, to be retried'}: ${reason}`);
      json('failed', { id, reason, final });
    },
    onError: (message) => say(`nst: warning: queue: ${message}`),
  });
  await worker.ready();
  json('ready', { queue: address.queue, concurrency, threads });
  say(
    `worker on queue ${address.queue} at ${shownUrl(address.redis)}: ${concurrency} job${concurrency === 1 ? '' : 's'} at a time, ${threads} thread${threads === 1 ? '' : 's'} each; Ctrl-C returns running jobs to the queue`,
  );
  // The first Ctrl-C or SIGTERM hands the running jobs back; a second stops at once.
  let stops = 0;
  await new Promise<void>((resolve) => {
    const stop = () => {
      if (stops++ > 0) {
        // The children exit with their worker; the jobs' locks run out and another worker resumes them.
        say('stopping now: the running jobs resume from their last checkpoints on another worker');
        process.exit(130);
      }
      say('stopping: running jobs save their checkpoints and go back to the queue');
      resolve();
    };
    for (const name of ['SIGINT', 'SIGTERM'] as const) process.on(name, stop);
  });
  await worker.close();
  return 0;
}

export async function statusCommand(flags: QueueFlags): Promise<number> {
  const address = await reach(flags, sayer(flags));
  const status = await queueStatus(address);
  if (flags.json) process.stdout.write(`${JSON.stringify(status)}\n`);
  else process.stdout.write(statusText(address, status));
  return 0;
}

/** The status for people: counts, then each running job with its progress, then the latest failures. */
function statusText(address: QueueAddress, status: QueueStatus): string {
  const { counts } = status;
  const lines = [
    `queue ${address.queue} at ${shownUrl(address.redis)}: ${counts.waiting} waiting, ${counts.active} running, ${counts.delayed} delayed (retries), ${counts.completed} completed, ${counts.failed} failed`,
  ];
  for (const job of status.running)
    lines.push(`  running [${job.id}] ${jobTitle(job.data)}: ${progressText(job.progress)}`);
  for (const job of status.failed) lines.push(`  failed [${job.id}] ${jobTitle(job.data)}: ${job.reason}`);
  return `${lines.join('\n')}\n`;
}

function progressText(p: QueueProgress | null): string {
  if (!p) return 'starting';
  const scale = p.scales > 1 ? `, scale ${p.scale}/${p.scales} (${p.size} px)` : '';
  const resumed = p.resumedFrom === null ? '' : `, resumed at ${p.resumedFrom}`;
  return `iteration ${p.iteration}/${p.iterations}${scale}, best cost ${p.bestCost.toExponential(3)}, ${formatSeconds(p.etaSeconds)} left${resumed}`;
}
