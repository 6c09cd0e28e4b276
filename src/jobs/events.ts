/**
 * Newline-delimited JSON events (the command's `--json` on stdout), one object per line, each with
 * `event` and `time` (ISO 8601), and `job` (1-based) inside `nst batch`. The schema is in the README.
 */
export type EventName =
  | 'start'
  | 'progress'
  | 'tile'
  | 'snapshot'
  | 'checkpoint'
  | 'done'
  | 'skipped'
  | 'error'
  | 'batch'
  | 'summary'
  | 'preview'
  // nst video: each finished frame.
  | 'frame'
  // nst queue: submit's, then the worker's.
  | 'submitted'
  | 'ended'
  | 'ready'
  | 'active'
  | 'completed'
  | 'failed';

export class Events {
  constructor(
    readonly enabled: boolean,
    /** Where each line goes (the library prints nothing itself). */
    private readonly write: (line: string) => void = () => {},
  ) {}

  emit(event: EventName, fields: Record<string, unknown> = {}): void {
    if (!this.enabled) return;
    // Infinity and NaN are not JSON: they are written as null.
    this.write(
      `${JSON.stringify({ event, time: new Date().toISOString(), ...fields }, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))}\n`,
    );
  }
}

/** The `code` of an error event: what kind of failure it was. */
export type ErrorCode = 'input' | 'nonfinite' | 'exists' | 'failure';

/**
 * Whether a progress event is reported (a `progress` event, a `--step` cost line): every `every`
 * iterations, and at each scale's last.
 */
export function isReported(e: { iteration: number; iterations: number; last?: boolean }, every: number): boolean {
  return e.iteration % every === 0 || e.iteration === e.iterations || Boolean(e.last);
}
