import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { consistencyWeights, opticalFlow, warpImage, type Flow, type Grey } from '../../src/core/flow.js';

/** A textured grey image whose value is known at any point: sines of several frequencies and directions. */
const texture = (x: number, y: number) =>
  0.5 +
  0.15 * Math.sin(0.31 * x + 0.17 * y) +
  0.12 * Math.sin(0.13 * x - 0.29 * y + 1) +
  0.08 * Math.sin(0.61 * x + 0.47 * y + 2) +
  0.05 * Math.sin(0.05 * x + 0.09 * y);

function image(width: number, height: number, f: (x: number, y: number) => number): Grey {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { width, height, data };
}

/** The mean end-point error of `flow` against the constant (u, v), `margin` px from the borders kept out. */
function endPointError(flow: Flow, u: number, v: number, margin: number): number {
  let sum = 0;
  let n = 0;
  for (let y = margin; y < flow.height - margin; y++)
    for (let x = margin; x < flow.width - margin; x++) {
      const i = y * flow.width + x;
      sum += Math.hypot(flow.u[i]! - u, flow.v[i]! - v);
      n++;
    }
  return sum / n;
}

const constantFlow = (width: number, height: number, u: number, v: number): Flow => ({
  width,
  height,
  u: new Float32Array(width * height).fill(u),
  v: new Float32Array(width * height).fill(v),
});

describe('optical flow', () => {
  for (const [u, v] of [
    [0, 0],
    [1.5, -0.75],
    [-3.25, 2],
    [6, 4.5],
  ] as const) {
    it(`finds a pan of (${u}, ${v}) px within 0.5 px (mean end-point error, 8 px from the borders)`, () => {
      const [w, h] = [96, 72];
      // The second frame shows the scene moved by (u, v): second(p + (u, v)) = first(p).
      const first = image(w, h, texture);
      const second = image(w, h, (x, y) => texture(x - u, y - v));
      const flow = opticalFlow(first, second);
      const error = endPointError(flow, u, v, 8);
      assert.ok(error < 0.5, `mean end-point error ${error.toFixed(3)} px`);
    });
  }

  it('the backward flow of a pan is the opposite of the forward one', () => {
    const [w, h] = [64, 48];
    const first = image(w, h, texture);
    const second = image(w, h, (x, y) => texture(x - 2, y + 1));
    const back = opticalFlow(second, first);
    assert.ok(endPointError(back, -2, 1, 8) < 0.5);
  });

  it('refuses frames of different sizes', () => {
    assert.throws(() => opticalFlow(image(8, 8, texture), image(8, 9, texture)), /same size/);
  });
});

describe('warping by a flow', () => {
  it('carries the previous frame onto the next where the flow is known', () => {
    const [w, h] = [40, 30];
    const [u, v] = [2.5, -1.5];
    const rgb = (f: (x: number, y: number) => number) => {
      const out = new Float32Array(w * h * 3);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = f(x + 7 * c, y);
      return out;
    };
    const previous = rgb(texture);
    const next = rgb((x, y) => texture(x - u, y - v));
    // The flow from the next frame to the previous one is (−u, −v).
    const warped = warpImage(previous, constantFlow(w, h, -u, -v));
    let worst = 0;
    for (let y = 4; y < h - 4; y++)
      for (let x = 4; x < w - 4; x++)
        for (let c = 0; c < 3; c++)
          worst = Math.max(worst, Math.abs(warped[(y * w + x) * 3 + c]! - next[(y * w + x) * 3 + c]!));
    // Bilinear interpolation of the sines: off by at most a few thousandths.
    assert.ok(worst < 0.02, `largest difference ${worst}`);
  });
});

describe('consistency weights', () => {
  // A square of 12 px moving 4 px right over a still background, between frame 0 and frame 1.
  const [w, h] = [48, 32];
  const [x0, y0, side, shift] = [10, 10, 12, 4];
  const inSquare = (x: number, y: number, left: number) => x >= left && x < left + side && y >= y0 && y < y0 + side;
  const field = (f: (x: number, y: number) => number): Float32Array => {
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = f(x, y);
    return out;
  };
  // Frame 1 → frame 0: the square's pixels came from 4 px to the left; the background stayed.
  const backward: Flow = {
    width: w,
    height: h,
    u: field((x, y) => (inSquare(x, y, x0 + shift) ? -shift : 0)),
    v: field(() => 0),
  };
  // Frame 0 → frame 1: the square's pixels go 4 px to the right.
  const forward: Flow = {
    width: w,
    height: h,
    u: field((x, y) => (inSquare(x, y, x0) ? shift : 0)),
    v: field(() => 0),
  };
  const weights = consistencyWeights(backward, forward);
  const at = (x: number, y: number) => weights[y * w + x]!;

  it('are 0 on the background the square uncovered (disoccluded)', () => {
    for (let y = y0 + 1; y < y0 + side - 1; y++)
      for (let x = x0; x < x0 + shift - 1; x++) assert.equal(at(x, y), 0, `(${x}, ${y})`);
  });

  it('are 0 at the motion boundary and 1 inside the square and on the still background', () => {
    assert.equal(at(x0 + shift, y0 + 5), 0, "the square's left edge");
    assert.equal(at(x0 + shift + 5, y0 + 5), 1, 'inside the square');
    assert.equal(at(40, 4), 1, 'the background');
  });

  it('are 0 where the flow leads out of the frame', () => {
    const out = consistencyWeights(constantFlow(w, h, -3, 0), constantFlow(w, h, 3, 0));
    assert.equal(out[5 * w + 1], 0);
    assert.equal(out[5 * w + 10], 1);
  });

  it('estimated on the frames, they reject most of the uncovered strip and keep the still background', () => {
    const frame = (left: number) =>
      image(w, h, (x, y) => (inSquare(x, y, left) ? 0.9 - 0.3 * texture(x - left, y) : texture(x, y)));
    const [first, second] = [frame(x0), frame(x0 + shift)];
    const estimated = consistencyWeights(opticalFlow(second, first), opticalFlow(first, second));
    let strip = 0;
    let n = 0;
    for (let y = y0 + 2; y < y0 + side - 2; y++)
      for (let x = x0; x < x0 + shift; x++, n++) strip += estimated[y * w + x]!;
    assert.ok(strip / n < 0.5, `mean weight on the uncovered strip ${strip / n}`);
    let far = 0;
    let m = 0;
    for (let y = 2; y < 6; y++) for (let x = 30; x < 46; x++, m++) far += estimated[y * w + x]!;
    assert.ok(far / m > 0.9, `mean weight far from the square ${far / m}`);
  });
});
