/** What a worker tells the child processes that run its jobs (through their environment). */
import type { Device, EngineName } from '../engine/evaluator.js';

/** Why a worker cancels its running jobs when it stops: they checkpoint and go back to wait. */
export const STOPPING = 'the worker is stopping';

/** Why a worker cancels a job whose lock it could not renew: another worker may have it now. */
export const LOCK_LOST = "the worker lost the job's lock";

/** The environment variable that carries ChildOptions as JSON. */
export const WORKER_ENV = 'NST_QUEUE_WORKER';

export interface ChildOptions {
  backend: EngineName;
  device: Device;
  /** Threads of each child's engine. */
  threads: number;
  /** The weights file (found or downloaded by the worker before it starts). */
  weights: string;
  memoryCheck: boolean;
  /** Iterations between a job's checkpoints: what a lost worker's job loses at most. */
  checkpointEvery: number;
}
