import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readability } from '../../bench/readability.js';
import { lcg } from '../helpers.js';

const [h, w] = [48, 64];
/** RGB [h, w, 3] from a grey function of (y, x). */
const image = (f: (y: number, x: number) => number) =>
  Float64Array.from({ length: h * w * 3 }, (_, i) => f(Math.floor(i / 3 / w), Math.floor(i / 3) % w));

describe('the readability reading', () => {
  const houses = image((y, x) => ((Math.floor(x / 16) + Math.floor(y / 12)) % 2 ? 200 : 40));
  it('is 1 for the photo itself and for the photo in other colours', () => {
    assert.ok(Math.abs(readability(houses, houses, h, w) - 1) < 1e-12);
    const tinted = houses.map((v, i) => (i % 3 === 0 ? v * 0.5 + 60 : v));
    assert.ok(Math.abs(readability(tinted, houses, h, w) - 1) < 1e-12, 'a linear change of grey keeps every edge');
  });

  it('falls when the edges move and is near 0 for an unrelated texture', () => {
    const moved = image((y, x) => ((Math.floor((x + 8) / 16) + Math.floor((y + 6) / 12)) % 2 ? 200 : 40));
    const random = lcg(3);
    const noise = image(() => 255 * random());
    const shifted = readability(moved, houses, h, w);
    const unrelated = readability(noise, houses, h, w);
    assert.ok(shifted < 0.5, `moved edges: ${shifted}`);
    assert.ok(Math.abs(unrelated) < 0.15, `noise: ${unrelated}`);
    // The photo under a little noise stays readable.
    const painted = houses.map((v, i) => v + 0.2 * noise[i]!);
    assert.ok(readability(painted, houses, h, w) > 0.8);
  });
});
