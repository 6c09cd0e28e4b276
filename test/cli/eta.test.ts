import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatSeconds, TimeLeft } from '../../src/jobs/eta.js';
import type { StylizeProgress } from '../../src/core/stylize.js';

/** A progress event at scale `index` of `sizes`, iteration `iteration` of `iterations`. */
function event(
  sizes: number[],
  index: number,
  iteration: number,
  iterations: number,
  evaluations: number,
  ms: number,
): StylizeProgress {
  const costs = { total: 1, content: 0, style: 0, variation: 0 };
  return {
    iteration,
    iterations,
    costs,
    bestCost: 1,
    evaluations,
    elapsedMs: ms,
    scale: { index, count: sizes.length, size: sizes[index - 1]!, tiles: 1 },
    run: { iteration, iterations: 0, evaluations },
  };
}

describe('the time left', () => {
  it("weighs the remaining iterations by their scale's work and the evaluations per iteration", () => {
    const sizes = [128, 256, 512];
    const counts = [100, 50, 20];
    const left = new TimeLeft(
      sizes.map((s) => s * s),
      counts,
    ); // the work of whole evaluations: their pixels
    // Scale 1 starts at 5 s (after its targets); then 10 iterations with 15 evaluations in 3 s: 0.2 s per evaluation.
    assert.equal(left.update(event(sizes, 1, 0, 100, 1, 5000)), null, 'nothing measured yet');
    const seconds = left.update(event(sizes, 1, 10, 100, 16, 8000))!;
    // By hand: 90 iterations × 1.5 × 0.2 s at 128 px, then 50 × 1.5 × 0.2 × 4 and 20 × 1.5 × 0.2 × 16.
    const expected = 90 * 1.5 * 0.2 + 50 * 1.5 * 0.2 * 4 + 20 * 1.5 * 0.2 * 16;
    assert.ok(Math.abs(seconds - expected) < 1e-9, `${seconds} ≈ ${expected}`);
    // An iteration count alone would say 160/170 of 3 s: 2.8 s.
    assert.ok(seconds > 50);
  });

  it('measures each scale afresh', () => {
    const sizes = [64, 128];
    const left = new TimeLeft(
      sizes.map((s) => s * s),
      [10, 10],
    );
    left.update(event(sizes, 1, 0, 10, 1, 0));
    assert.ok(Math.abs(left.update(event(sizes, 1, 10, 10, 21, 1000))! - 10 * 2 * 0.05 * 4) < 1e-9);
    assert.equal(left.update(event(sizes, 2, 0, 10, 22, 2000)), null, 'a new scale: nothing measured at it yet');
    // 1 iteration, 3 evaluations in 0.9 s at 128 px: 9 iterations × 3 × 0.3 s.
    const seconds = left.update(event(sizes, 2, 1, 10, 25, 2900))!;
    assert.ok(Math.abs(seconds - 8.1) < 1e-9, `${seconds}`);
  });

  it('weighs a scale that will be tiled by its tiles, not its pixels alone', () => {
    const sizes = [512, 1024];
    const left = new TimeLeft([512 * 384, 6 * 512 * 512 * (4 / 3)], [10, 10]);
    left.update(event(sizes, 1, 0, 10, 1, 0));
    // 1 s per evaluation at 512 px; the tiled 1024-px scale does 2 × 4/3 times the work of its 4× pixels.
    const seconds = left.update(event(sizes, 1, 5, 10, 6, 5000))!;
    const expected = 5 * 1 + 10 * 1 * ((6 * 512 * 512 * 4) / 3 / (512 * 384));
    assert.ok(Math.abs(seconds - expected) < 1e-9, `${seconds} ≈ ${expected}`);
    assert.ok(Math.abs(expected - (5 + 10 * 4 * 2 * (4 / 3))) < 1e-9);
  });

  it('formats seconds for the bar', () => {
    assert.equal(formatSeconds(null), '…');
    assert.equal(formatSeconds(44.6), '45s');
    assert.equal(formatSeconds(185), '3m05s');
    assert.equal(formatSeconds(3720), '1h02m');
  });
});
