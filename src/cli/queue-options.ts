/**
 * The flags of `nst queue submit | worker | status`. Loads nothing heavy: each action imports
 * queue.ts (and with it BullMQ) when it runs, so `nst stylize` and `nst batch` never load Redis's client.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDecimal } from '../core/settings.js';
import { DEFAULT_QUEUE_NAME } from '../queue/address.js';
import {
  addPlanOptions,
  addProcessOptions,
  addRunOptions,
  DEFAULT_CHECKPOINT_EVERY,
  givenFlags,
  runFlags,
} from './flags.js';
import type { QueueFlags, SubmitFlags, WorkerFlags } from './queue.js';

const QUEUE_EXAMPLES = `
Examples:
  $ nst queue worker --redis redis://queue-host:6379 --concurrency 2     # on each machine
  $ nst queue submit --content /shared/photos/ --style /shared/paintings/ --out-dir /shared/out \\
      --redis redis://queue-host:6379 --wait
  $ nst queue submit --manifest /shared/jobs.csv --out-dir /shared/out --redis redis://queue-host:6379
  $ nst queue status --redis redis://queue-host:6379

Inputs and outputs must be on storage every worker sees at the same paths; each worker needs the
VGG19 weights ($NST_WEIGHTS, --weights, or its cache). Set Redis's maxmemory-policy to noeviction.
A worker that is killed loses no job: after --stall-seconds another worker takes the job up and
resumes it from its last checkpoint (every --checkpoint-every iterations, beside the output).`;

/** A whole number from 1 to `max`, for a flag's parser. */
const count = (max: number) => (text: string) => {
  const x = parseDecimal(text);
  if (!(Number.isInteger(x) && x >= 1 && x <= max))
    throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
  return x;
};

/** --redis (or $NST_REDIS) and --queue: where the queue is. */
function addQueueOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--redis <url>', 'the Redis server: redis://[user:password@]host[:port][/db] or rediss://')
        .env('NST_REDIS')
        .makeOptionMandatory(),
    )
    .option('--queue <name>', 'the queue in that server', DEFAULT_QUEUE_NAME);
}

/** Adds the `queue` command and its subcommands; each action stores its exit code in `result`. */
export function addQueueCommand(program: Command, result: { code: number }): void {
  const queue = program
    .command('queue')
    .description('run batches on many machines: a job queue on Redis (BullMQ) and workers that take its jobs')
    .addHelpText('after', QUEUE_EXAMPLES);

  const submit = addQueueOptions(
    addPlanOptions(queue.command('submit').description("add a batch's jobs (as `nst batch` plans them) to the queue")),
  )
    .option('--skip-existing', 'leave out jobs whose output exists')
    .option('--force', 'submit jobs whose output exists (their workers overwrite it)')
    .option('--wait', 'wait until the jobs end; exit 0 only if all succeeded')
    .option('--json', 'newline-delimited JSON on stdout: the ids submitted, then each job as it ends')
    .option('-q, --quiet', 'no messages on stderr');
  addRunOptions(submit).action(async (opts: Record<string, unknown>, command: Command) => {
    const { submitCommand } = await import('./queue.js');
    const given = givenFlags(command);
    result.code = await submitCommand({ ...opts, ...runFlags(given), given } as SubmitFlags);
  });

  const worker = addQueueOptions(
    queue.command('worker').description("run the queue's jobs until stopped (Ctrl-C, SIGTERM)"),
  )
    .option('--concurrency <n>', 'jobs at a time, each in its own process', count(64), 1)
    .option(
      '--checkpoint-every <n>',
      "iterations between a job's checkpoints: the most a lost worker's job loses",
      count(1e6),
      DEFAULT_CHECKPOINT_EVERY,
    )
    .option(
      '--stall-seconds <s>',
      "how long a lost worker's job waits before another worker takes it up",
      count(3600),
      30,
    );
  const threads = new Option(
    '--threads <n>',
    "threads of each job's engine (default: the cores, at most 8, shared among the --concurrency jobs)",
  ).argParser(count(64));
  addProcessOptions(worker, threads).action(async (opts: Record<string, unknown>, command: Command) => {
    const { workerCommand } = await import('./queue.js');
    result.code = await workerCommand(opts as unknown as WorkerFlags);
  });

  addQueueOptions(
    queue
      .command('status')
      .description('the counts of jobs, the running ones with their progress, the latest failures'),
  )
    .option('--json', 'the status as one JSON object on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { statusCommand } = await import('./queue.js');
      result.code = await statusCommand(opts as unknown as QueueFlags);
    });
}
