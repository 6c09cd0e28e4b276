/**
 * The jobs of a batch or a queue submission, planned and checked whole before any work: every
 * job's settings and paths, and no output that is an input or another output of the plan.
 */
import * as fs from 'node:fs';
import type { Settings } from '../core/settings.js';
import { InputError } from '../errors.js';
import { checkJob, checkRunFlags, jobFiles, type Job } from '../jobs/job.js';
import { refuseOverwrites, type Role } from '../jobs/overwrite.js';
import { planJobs } from './batch.js';
import type { RunFlags } from './flags.js';

/** What a plan is made from: the inputs (files, folders, globs, or a manifest), where outputs go, the run flags. */
export interface PlanFlags extends RunFlags {
  content: string[];
  style: string[];
  manifest?: string;
  outDir: string;
  name: string;
  /** The run flags given on the command line (a manifest row's preset applies under them). */
  given: Partial<Settings>;
}

/** Checks the run flags every job of the plan shares (a manifest row's own come with its job). */
export function checkSharedFlags(flags: PlanFlags): void {
  checkRunFlags({ ...flags, styleWeights: undefined }, 1);
  if (flags.styleWeights) {
    throw new InputError('--style-weights needs several styles in one job: give them in a manifest');
  }
}

/**
 * The planned jobs, each checked; `reads` are other files the run reads (the weights) and
 * `writes` other files it writes (a contact sheet, checked once the output folder exists). A folder
 * made for the outputs is removed again when the plan is refused.
 */
export function planChecked(flags: PlanFlags, reads: Role[], writes: () => Role[] = () => []): Job[] {
  const created = makeOutDir(flags.outDir);
  try {
    const jobs = planJobs({
      contents: flags.content,
      styles: flags.style,
      manifest: flags.manifest,
      outDir: flags.outDir,
      name: flags.name,
      flags,
      given: flags.given,
    });
    const allReads = [...reads, ...(flags.manifest ? [{ what: 'manifest', file: flags.manifest }] : [])];
    const files = jobs.map((job) => jobFiles(job, checkJob(job, {}, allReads)));
    refuseOverwrites(
      [...allReads, ...files.flatMap((f) => f.reads)],
      [...files.flatMap((f) => f.writes), ...writes()],
      files.flatMap((f) => f.snapshots),
    );
    return jobs;
  } catch (error) {
    if (created) fs.rmSync(created, { recursive: true, force: true });
    throw error;
  }
}

/** Makes the output folder (and those above it) if missing; returns the first one made, if any. */
function makeOutDir(dir: string): string | undefined {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new InputError(`--out-dir ${dir}: is a file, not a directory`);
  try {
    return fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new InputError(`--out-dir ${dir}: cannot make it (${(err as Error).message})`);
  }
}
