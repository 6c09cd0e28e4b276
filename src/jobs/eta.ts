/**
 * The time left in a run, from its progress events. An iteration's cost grows with its scale's
 * pixels (a 512-px one costs some 16 times a 128-px one) and L-BFGS may evaluate several times per
 * iteration, so each remaining iteration is weighed by the measured seconds per evaluation of its
 * scale and the measured evaluations per iteration; a scale not reached yet is the current one's
 * rate times the ratio of their work per evaluation (core/memory.ts scaleWork: the pixels, and the
 * tiles' overhead where a scale will be tiled). The remaining iterations are the budget: a run that
 * ends at convergence ends sooner, so the time left is a bound.
 */
import type { StylizeProgress } from '../core/stylize.js';

/** Where a scale's measurement starts: its first event (iteration 0: the targets are made before it). */
interface Mark {
  ms: number;
  iteration: number;
  evaluations: number;
}

export class TimeLeft {
  /** The current scale (1-based) and its first event. */
  private scale = 0;
  private first: Mark | null = null;

  /** `work`: each scale's work per evaluation (any unit: only ratios count); `counts`: its iterations. */
  constructor(
    private readonly work: readonly number[],
    private readonly counts: readonly number[],
  ) {}

  /** Seconds left after this event, or null until the current scale has a measured iteration. */
  update(e: StylizeProgress): number | null {
    const now: Mark = { ms: e.elapsedMs, iteration: e.iteration, evaluations: e.run.evaluations };
    if (e.scale.index !== this.scale || !this.first) {
      this.scale = e.scale.index;
      this.first = now;
    }
    const first = this.first;
    const [evaluations, iterations] = [now.evaluations - first.evaluations, now.iteration - first.iteration];
    if (evaluations <= 0 || iterations <= 0) return null;
    const perEvaluation = (now.ms - first.ms) / 1000 / evaluations;
    const perIteration = evaluations / iterations;
    const work = this.work[e.scale.index - 1]!;
    let left = (e.iterations - e.iteration) * perIteration * perEvaluation;
    for (let j = e.scale.index; j < this.work.length; j++) {
      left += this.counts[j]! * perIteration * perEvaluation * (this.work[j]! / work);
    }
    return left;
  }
}

/** Seconds as the progress bar shows them: 45s, 3m05s, 1h02m; '…' while unknown. */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '…';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
