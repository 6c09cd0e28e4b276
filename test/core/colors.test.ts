import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { luminance, matchColorHistogram, matchLuminance, withContentColors, YIQ_TO_RGB } from '../../src/core/color.js';
import { scaleImage } from '../../src/core/resize.js';
import { readImage } from '../../src/io/images.js';
import { IMAGES, nst, randomArray, tempDir, useWasm } from '../helpers.js';

// Independent float64 reference: the NTSC YIQ coefficients written out again.
const YIQ = [
  [0.299, 0.587, 0.114],
  [0.5959, -0.2746, -0.3213],
  [0.2115, -0.5227, 0.3112],
];
const yiq = (r: number, g: number, b: number) => YIQ.map(([x, y, z]) => x! * r + y! * g + z! * b);

/** Per-pixel [Y, I, Q] of an RGB array. */
function toYiq(data: ArrayLike<number>): number[][] {
  const out: number[][] = [];
  for (let p = 0; p < data.length; p += 3) out.push(yiq(data[p]!, data[p + 1]!, data[p + 2]!));
  return out;
}

/** Mean and covariance of the pixels, float64. */
function stats(data: ArrayLike<number>) {
  const n = data.length / 3;
  const mean = [0, 1, 2].map((c) => {
    let s = 0;
    for (let p = c; p < data.length; p += 3) s += data[p]!;
    return s / n;
  });
  const cov = [0, 1, 2].map((r) =>
    [0, 1, 2].map((c) => {
      let s = 0;
      for (let p = 0; p < data.length; p += 3) s += (data[p + r]! - mean[r]!) * (data[p + c]! - mean[c]!);
      return s / n;
    }),
  );
  return { mean, cov };
}

describe('colour control', () => {
  before(useWasm);

  it('YIQ_TO_RGB inverts the YIQ transform', () => {
    const [r, g, b] = [0.2, 0.7, 0.4];
    const [y, i, q] = yiq(r, g, b);
    const back = YIQ_TO_RGB.map(([a, c, d]) => a * y! + c * i! + d * q!);
    back.forEach((v, k) => assert.ok(Math.abs(v - [r, g, b][k]!) < 1e-12));
  });

  it('withContentColors keeps the content chroma exactly and the styled luminance where it fits', () => {
    const n = 400;
    const styled = tf.tensor3d(Float32Array.from(randomArray(n * 3, 1, 0, 1)), [20, 20, 3]);
    const content = tf.tensor3d(Float32Array.from(randomArray(n * 3, 2, 0, 1)), [20, 20, 3]);
    const out = withContentColors(styled, content);
    const [o, c, s] = [out, content, styled].map((t) => toYiq(t.dataSync()));
    let kept = 0;
    const data = out.dataSync();
    assert.ok(
      data.every((v) => v >= 0 && v <= 1),
      'in [0, 1]',
    );
    for (let p = 0; p < n; p++) {
      assert.ok(
        Math.abs(o[p]![1]! - c[p]![1]!) < 1e-5 && Math.abs(o[p]![2]! - c[p]![2]!) < 1e-5,
        `pixel ${p}: chroma ${o[p]} vs ${c[p]}`,
      );
      if (Math.abs(o[p]![0]! - s[p]![0]!) < 1e-5) kept++;
    }
    assert.ok(kept > n / 4, `the styled luminance is kept where it fits (${kept} of ${n})`);
    tf.dispose([styled, content, out]);
  });

  it("matchColorHistogram gives the style the content's colour mean and covariance", () => {
    // Mid-range images, so that no value is clipped and the match is exact up to float32.
    const style = tf.tensor3d(Float32Array.from(randomArray(30 * 20 * 3, 3, 90, 160)), [30, 20, 3]);
    const contentData = Float32Array.from(randomArray(25 * 25 * 3, 4, 0, 1));
    for (let p = 0; p < contentData.length; p += 3) {
      // Correlated channels, so the covariance has off-diagonal terms to match.
      const base = contentData[p]!;
      contentData[p] = 100 + 40 * base;
      contentData[p + 1] = 110 + 20 * base + 10 * contentData[p + 1]!;
      contentData[p + 2] = 120 - 15 * base + 12 * contentData[p + 2]!;
    }
    const content = tf.tensor3d(contentData, [25, 25, 3]);
    const matched = matchColorHistogram(style, content);
    const got = stats(matched.dataSync());
    const want = stats(contentData);
    const before = stats(style.dataSync());
    got.mean.forEach((m, c) => assert.ok(Math.abs(m - want.mean[c]!) < 1e-3, `mean ${c}: ${m} vs ${want.mean[c]}`));
    got.cov.forEach((row, r) =>
      row.forEach((v, c) =>
        assert.ok(
          Math.abs(v - want.cov[r]![c]!) < 1e-2 * Math.max(1, Math.abs(want.cov[r]![c]!)),
          `cov ${r},${c}: ${v} vs ${want.cov[r]![c]}`,
        ),
      ),
    );
    assert.ok(Math.abs(before.cov[0]![1]! - want.cov[0]![1]!) > 10, 'the style started with other statistics');
    tf.dispose([style, content, matched]);
  });

  it("matchLuminance gives the style luminance the content's mean and deviation, as a grey image", () => {
    const style = tf.tensor3d(Float32Array.from(randomArray(16 * 16 * 3, 5, 0, 255)), [16, 16, 3]);
    const content = tf.tensor3d(Float32Array.from(randomArray(16 * 16 * 3, 6, 60, 120)), [16, 16, 3]);
    const out = matchLuminance(style, content).dataSync();
    const y = (data: ArrayLike<number>) => toYiq(data).map(([v]) => v!);
    const moments = (v: number[]) => {
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length)];
    };
    const [gm, gs] = moments(y(out));
    const [cm, cs] = moments(y(content.dataSync()));
    assert.ok(Math.abs(gm! - cm!) < 1e-3 && Math.abs(gs! - cs!) < 1e-3, `${gm}, ${gs} vs ${cm}, ${cs}`);
    for (let p = 0; p < out.length; p += 3) assert.ok(out[p] === out[p + 1] && out[p] === out[p + 2], 'grey');
    const grey = luminance(content);
    assert.deepEqual(grey.shape, [16, 16, 3]);
    tf.dispose([style, content, grey]);
  });

  it("--preserve-colors luminance and swap: the output has the content's chroma (none does not)", async () => {
    const dir = tempDir();
    const contentFile = path.join(IMAGES, 'tubingen.jpg');
    const raw = await readImage(contentFile);
    const scaled = scaleImage(raw, 48);
    const want = toYiq(scaled.dataSync());
    tf.dispose([raw, scaled]);
    for (const mode of ['luminance', 'swap', 'none']) {
      const out = path.join(dir, `${mode}.png`);
      const run = nst([
        'stylize',
        contentFile,
        path.join(IMAGES, 'starry_night.jpg'),
        '-o',
        out,
        '--size',
        '48',
        '--iterations',
        '8',
        '--preserve-colors',
        mode,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const image = await readImage(out);
      const got = toYiq(Array.from(image.dataSync(), (v) => v / 255));
      image.dispose();
      let worst = 0;
      got.forEach((p, k) => (worst = Math.max(worst, Math.abs(p[1]! - want[k]![1]!), Math.abs(p[2]! - want[k]![2]!))));
      // 8-bit rounding moves I or Q by at most 0.5/255 · (0.5959 + 0.2746 + 0.3213) ≈ 0.0023.
      if (mode === 'none') assert.ok(worst > 0.05, `without colour preservation the chroma changes (${worst})`);
      else assert.ok(worst < 0.0024, `${mode}: chroma differs by ${worst}`);
    }
    fs.rmSync(dir, { recursive: true });
  });

  it("--preserve-colors histogram moves the output's colours towards the content's", async () => {
    const dir = tempDir();
    const contentFile = path.join(IMAGES, 'tubingen.jpg');
    const raw = await readImage(contentFile);
    const want = stats(raw.dataSync()).mean;
    raw.dispose();
    const distance: Record<string, number> = {};
    for (const mode of ['histogram', 'none']) {
      const out = path.join(dir, `${mode}.png`);
      // Started from the style image the run sees: with histogram, the colour-matched one.
      const args = [
        'stylize',
        contentFile,
        path.join(IMAGES, 'starry_night.jpg'),
        '-o',
        out,
        '--size',
        '48',
        '--iterations',
        '5',
      ];
      const run = nst([...args, '--init', 'style', '--preserve-colors', mode]);
      assert.equal(run.code, 0, run.stderr);
      const image = await readImage(out);
      const mean = stats(image.dataSync()).mean;
      image.dispose();
      distance[mode] = Math.hypot(...mean.map((m, c) => m - want[c]!));
    }
    assert.ok(
      distance['histogram']! < distance['none']! / 3,
      `mean colour distance to the content: ${JSON.stringify(distance)}`,
    );
    fs.rmSync(dir, { recursive: true });
  });
});
