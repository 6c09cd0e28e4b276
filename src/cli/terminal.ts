/** What the command shows on the terminal: lines for people, cost lines, the progress bar, signals. */
import cliProgress from 'cli-progress';
import type { StylizeProgress } from '../core/stylize.js';
import { removeTemporaryFiles } from '../io/atomic.js';
import { costLine } from '../nst.js';
import { isReported } from '../jobs/events.js';
import type { ProcessFlags } from './flags.js';

/**
 * Whether the progress bar is drawn: only on a terminal, for a person, and one that takes cursor
 * codes (not TERM=dumb, and not when NO_COLOR asks for plain output).
 */
export function showsBar(flags: ProcessFlags): boolean {
  const plain = process.env['TERM'] === 'dumb' || (process.env['NO_COLOR'] ?? '') !== '';
  return !flags.quiet && !flags.json && Boolean(process.stderr.isTTY) && !plain;
}

/** Clears the progress bar's line before a line of text is written, when there is a bar. */
export function clearBar(flags: ProcessFlags): void {
  if (showsBar(flags)) process.stderr.write('\r\x1b[K');
}

/** Lines on stderr for a person: none with --quiet or --json. */
export function sayer(flags: Pick<ProcessFlags, 'quiet' | 'json'>): (line: string) => void {
  return (line) => {
    if (!flags.quiet && !flags.json) process.stderr.write(`${line}\n`);
  };
}

/**
 * Where the `--step` lines go: stdout, unless it carries JSON events (then nowhere) or the image
 * (`stdoutTaken`: then stderr).
 */
export function costWriter(flags: ProcessFlags, stdoutTaken = false): ((line: string) => void) | undefined {
  if (flags.json) return undefined;
  const stream = stdoutTaken ? process.stderr : process.stdout;
  return (line) => {
    clearBar(flags); // over the progress bar
    stream.write(`${line}\n`);
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
    if (isReported(e, every)) write(costLine(e.iteration, e.costs));
  };
}

/** The exit code of each signal that ends a run: 128 + its number. */
const SIGNAL_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** The signals trapped while a command runs, and what they asked for. */
export interface Signals {
  /** Aborted by the first signal while a run is under way (`running(true)`). */
  signal: AbortSignal;
  /** The exit code the signal asks for (0 if none came). */
  code: () => number;
  /** Whether a run is under way that can stop with its best image: until then a signal exits at once. */
  running: (on: boolean) => void;
  /** What Ctrl-C does, asked for another way (the preview's Stop button). */
  interrupt: () => void;
  /** Untraps the signals, unless one came: then the trap stays until the process ends. */
  release: () => void;
}

/**
 * SIGINT, SIGTERM and SIGHUP (a closed terminal), trapped for the whole command. While a run is
 * under way the first one aborts the signal: the run ends between iterations and writes its best
 * image. Before that (nothing to save yet) or at a second one, the process exits at once, after
 * removing the temporary files being written: the output is then whole or absent, never half.
 */
export function trapSignals(): Signals {
  const abort = new AbortController();
  let code = 0;
  let running = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const exit = SIGNAL_CODES[signal] ?? 143;
    if (abort.signal.aborted || !running) {
      removeTemporaryFiles();
      process.exit(exit);
    }
    code = exit;
    abort.abort();
  };
  const names = Object.keys(SIGNAL_CODES) as NodeJS.Signals[];
  for (const name of names) process.on(name, onSignal);
  return {
    signal: abort.signal,
    code: () => code,
    running: (on) => (running = on),
    interrupt: () => onSignal('SIGINT'),
    // Once a signal came the process is ending: a further one exits at once with its code, even
    // after the command released its trap (untrapped, the default would kill it without one).
    release: () => {
      if (!abort.signal.aborted) for (const name of names) process.off(name, onSignal);
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
  if (!showsBar(flags)) return NO_BAR;
  const options = { stream: process.stderr, format, hideCursor: true, etaBuffer: 20 };
  const bar = new cliProgress.SingleBar(options, cliProgress.Presets.shades_classic);
  bar.start(total, 0, {});
  return { update: (value, payload) => bar.update(value, payload), stop: () => bar.stop() };
}
