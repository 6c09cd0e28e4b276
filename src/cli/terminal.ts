/** What the command shows on the terminal: lines for people, cost lines, the progress bar, signals. */
import cliProgress from 'cli-progress';
import type { StylizeProgress } from '../core/stylize.js';
import { costLine } from '../nst.js';
import type { ProcessFlags } from './flags.js';

/** Lines on stderr for a person: none with --quiet or --json. */
export function sayer(flags: ProcessFlags): (line: string) => void {
  return (line) => {
    if (!flags.quiet && !flags.json) process.stderr.write(`${line}\n`);
  };
}

/** Where the `--step` lines go: stdout, unless it carries JSON events (then nowhere). */
export function costWriter(flags: ProcessFlags): ((line: string) => void) | undefined {
  if (flags.json) return undefined;
  return (line) => {
    if (!flags.quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // over the progress bar
    process.stdout.write(`${line}\n`);
  };
}

/**
 * The `--step` lines of a run's progress events: a cost line every `every` iterations and at each
 * scale's last, each scale introduced by `Scale k/n: s px` when there are several.
 */
export function costLines(every: number | undefined, write?: (line: string) => void): (e: StylizeProgress) => void {
  if (every === undefined || !write) return () => {};
  let scale = 0;
  return (e) => {
    if (e.scale.index !== scale && e.scale.count > 1)
      write(`Scale ${e.scale.index}/${e.scale.count}: ${e.scale.size} px`);
    scale = e.scale.index;
    if (e.iteration % every === 0 || e.iteration === e.iterations) write(costLine(e.iteration, e.costs));
  };
}

/**
 * SIGINT / SIGTERM abort the signal (the run ends between iterations with its best image); a
 * second one exits at once. `code()` is the exit code the signal asks for (0 if none came).
 */
export function trapSignals(): { signal: AbortSignal; code: () => number; release: () => void } {
  const abort = new AbortController();
  let code = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const exit = signal === 'SIGINT' ? 130 : 143;
    if (abort.signal.aborted) process.exit(exit);
    code = exit;
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    code: () => code,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export interface Bar {
  update: (value: number, payload: object) => void;
  stop: () => void;
}
export const NO_BAR: Bar = { update: () => {}, stop: () => {} };

/** A progress bar on stderr when it is a terminal and a person reads it. */
export function progressBar(flags: ProcessFlags, format: string, total: number): Bar {
  if (flags.quiet || flags.json || !process.stderr.isTTY) return NO_BAR;
  const options = { stream: process.stderr, format, hideCursor: true, etaBuffer: 20 };
  const bar = new cliProgress.SingleBar(options, cliProgress.Presets.shades_classic);
  bar.start(total, 0, {});
  return { update: (value, payload) => bar.update(value, payload), stop: () => bar.stop() };
}
