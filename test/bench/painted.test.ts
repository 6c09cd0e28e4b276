import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { painted, type Rgb } from '../../bench/painted.js';
import { lcg } from '../helpers.js';

/** An RGB image from a colour function of (y, x). */
const image = (h: number, w: number, f: (y: number, x: number) => [number, number, number]): Rgb => {
  const data = new Float64Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(f(y, x), 3 * (y * w + x));
  return { h, w, data };
};

describe('the painted readings', () => {
  // A smooth photo in browns, a painting of blue strokes (of another size).
  const photo = image(48, 64, (y, x) => [120 + x, 80 + y, 40]);
  const random = lcg(5);
  const painting = image(40, 40, () => {
    const v = random();
    return [30 + 40 * v, 60 + 60 * v, 150 + 100 * v];
  });

  it('reads 0 for the photo and 1 for the painting itself', () => {
    const same = painted(photo, photo, painting);
    assert.deepEqual(same, { palette: 0, texture: 0 });
    const itself = painted(painting, photo, painting);
    assert.ok(Math.abs(itself.palette - 1) < 1e-12 && Math.abs(itself.texture - 1) < 1e-12, JSON.stringify(itself));
  });

  it("counts a tint as colour, not as strokes, and the painting's strokes over the photo as both", () => {
    // The photo in the painting's mean colour: the palette moves, the texture does not.
    const tinted = image(48, 64, (y, x) => [50 + x / 4, 90 + y / 4, 200]);
    const tint = painted(tinted, photo, painting);
    assert.ok(tint.palette > 0.3, `tint palette ${tint.palette}`);
    assert.ok(tint.texture < 0.2, `tint texture ${tint.texture}`);
    // The painting's noise over the tinted photo: strokes too.
    const noise = lcg(6);
    const stroked = image(48, 64, (y, x) => {
      const v = noise();
      return [30 + 40 * v + x / 8, 60 + 60 * v, 150 + 100 * v];
    });
    const strokes = painted(stroked, photo, painting);
    assert.ok(strokes.palette > 0.8 && strokes.texture > 0.8, JSON.stringify(strokes));
  });
});
